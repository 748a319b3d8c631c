"""customers → CRM One contacts: the sender, its plan (mapping, digests, ownership), the
ownership merge and store routing both ways."""
