"""The integer network and the distribution it gives each sub-pixel: the weight file (`weights`), the released
models (`registry`), the Numba kernels (`network`, `mixture`, `adaptive`, joined per pixel in `pixel`) and a NumPy
reference that the tests hold them to (`reference`). WEIGHTS.md specifies the arithmetic."""
