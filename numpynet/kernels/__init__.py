"""The hot loops, each as a readable NumPy reference and a Numba-compiled twin.

- `im2col`: convolution as a matrix product (im2col / col2im)
- `pool`: max-pooling forward and backward
- `lrn`: local response normalisation forward and backward

The layers call the dispatching functions (`im2col.im2col`, `pool.maxpool_forward`, ...), which
pick the implementation from `numpynet.backend`; tests check the twins agree.
"""
