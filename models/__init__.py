"""Training side of lcodec: the float PixelCNN, its training script and the export to integer weights."""
