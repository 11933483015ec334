"""Building blocks of the BiRQ model: frontend, masking, quantizers, encoder."""
