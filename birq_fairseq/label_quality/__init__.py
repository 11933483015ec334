"""Label quality of pretraining: phone-aligned PNMI and purities, k-means of layers, probes."""
