"""Code shared by source_commercetools and destination_crmone."""
