"""Delivery: knows no stream. The write context, the sender base (outcomes of a batch), the
writer (batches, concurrency, STATE watermark) and the relay (input → writer → released STATEs)."""
