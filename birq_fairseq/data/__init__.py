"""Corpus preparation: audio conversion, transcript normalisation and fairseq manifests."""
