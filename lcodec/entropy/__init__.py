"""Entropy coding: a range coder over integer CDFs (`range_coder`) and a bridge from float probabilities to
integer CDFs for generic use of the coder (`float_cdf`); the image path builds its CDFs itself (`lcodec.model`)."""
