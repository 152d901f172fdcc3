"""Deterministic float math: exp, log, sigmoid and tanh from IEEE operations only.

Each function's arithmetic is written once, for numpy arrays and numba scalars alike:
``model.lstm`` calls it on arrays, ``model.engine_fast`` compiles it, so both give the same
floats on every CPU (docs/reproducibility.md).
"""

from __future__ import annotations

import numpy as np

# float32 exp, at most 1 ulp off: x = n ln2 + r, ln2 in two parts so n * LN2_HIGH is exact
# (Cody-Waite), exp(r) by Cephes' expf polynomial, 2^n as two normal powers of two so that
# subnormal results round once. exp(-104) rounds to 0 and exp(89) overflows, as exactly.
EXP_LOWEST = np.float32(-104.0)
EXP_HIGHEST = np.float32(89.0)
LOG2E = np.float32(1.44269504088896341)
# 1.5 * 2^23: adding it rounds |x| < 2^22 to an integer (ties to even) in the sum's low bits.
ROUNDER = np.float32(12582912.0)
ROUNDER_BITS = np.int32(0x4B400000)
LN2_HIGH = np.float32(0.693359375)
LN2_LOW = np.float32(-2.12194440e-4)
EXP_P0 = np.float32(1.9875691500e-4)
EXP_P1 = np.float32(1.3981999507e-3)
EXP_P2 = np.float32(8.3334519073e-3)
EXP_P3 = np.float32(4.1665795894e-2)
EXP_P4 = np.float32(1.6666665459e-1)
EXP_P5 = np.float32(5.0000001201e-1)
ONE = np.float32(1.0)
FLOAT32_BIAS = np.int32(127)
FLOAT32_MANTISSA_BITS = np.int32(23)

# float32 tanh by Eigen's generic_fast_tanh_float (TensorFlow's CPU tanh), within 6.4 ulp:
# a 13/6-degree rational function on [-c, c], +-1 beyond, x itself near 0.
TANH_CLAMP = np.float32(7.90531110763549805)
TANH_TINY = np.float32(0.0004)
TANH_ALPHA_1 = np.float32(4.89352455891786e-03)
TANH_ALPHA_3 = np.float32(6.37261928875436e-04)
TANH_ALPHA_5 = np.float32(1.48572235717979e-05)
TANH_ALPHA_7 = np.float32(5.12229709037114e-08)
TANH_ALPHA_9 = np.float32(-8.60467152213735e-11)
TANH_ALPHA_11 = np.float32(2.00018790482477e-13)
TANH_ALPHA_13 = np.float32(-2.76076847742355e-16)
TANH_BETA_0 = np.float32(4.89352518554385e-03)
TANH_BETA_2 = np.float32(2.26843463243900e-03)
TANH_BETA_4 = np.float32(1.18534705686654e-04)
TANH_BETA_6 = np.float32(1.19825839466702e-06)

# float64 log: x = m 2^e, m in [sqrt(1/2), sqrt(2)), log(m) = 2 atanh((m - 1) / (m + 1)) by
# its series to s^23 (the next term < 1e-19 of the sum), ln2 in two parts as for exp.
SQRT_HALF = 0.70710678118654752440
LOG_LN2_HIGH = 6.93147180369123816490e-01
LOG_LN2_LOW = 1.90821492927058770002e-10
LOG_SERIES = np.array([1.0 / (2 * k + 1) for k in range(11, 0, -1)])  # 1/23, 1/21, ..., 1/3


def exp(x):
    """e**x for float32 ``x``, a numpy array or a numba scalar."""
    x = np.minimum(np.maximum(x, EXP_LOWEST), EXP_HIGHEST)
    shifted = x * LOG2E + ROUNDER
    whole = shifted - ROUNDER
    reduced = (x - whole * LN2_HIGH) - whole * LN2_LOW
    squared = reduced * reduced
    poly = reduced * EXP_P0 + EXP_P1
    poly = poly * reduced + EXP_P2
    poly = poly * reduced + EXP_P3
    poly = poly * reduced + EXP_P4
    poly = poly * reduced + EXP_P5
    poly = (poly * squared + reduced) + ONE
    # The casts keep the types numba would widen; for arrays they change nothing.
    power = np.int32(np.float32(shifted).view(np.int32) - ROUNDER_BITS)
    half = np.int32(power >> 1)
    first = np.int32((half + FLOAT32_BIAS) << FLOAT32_MANTISSA_BITS).view(np.float32)
    second = np.int32((power - half + FLOAT32_BIAS) << FLOAT32_MANTISSA_BITS).view(np.float32)
    return (poly * first) * second


def tanh_ratio(value):
    """Eigen's rational approximation of tanh(value), the value clamped to +-TANH_CLAMP."""
    x = np.minimum(np.maximum(value, -TANH_CLAMP), TANH_CLAMP)
    x2 = x * x
    numerator = x2 * TANH_ALPHA_13 + TANH_ALPHA_11
    numerator = x2 * numerator + TANH_ALPHA_9
    numerator = x2 * numerator + TANH_ALPHA_7
    numerator = x2 * numerator + TANH_ALPHA_5
    numerator = x2 * numerator + TANH_ALPHA_3
    numerator = x2 * numerator + TANH_ALPHA_1
    numerator = x * numerator
    denominator = x2 * TANH_BETA_6 + TANH_BETA_4
    denominator = x2 * denominator + TANH_BETA_2
    denominator = x2 * denominator + TANH_BETA_0
    return numerator / denominator


def log_of_mantissa(mantissa, exponent):
    """log(mantissa * 2**exponent) for mantissa in [sqrt(1/2), sqrt(2)), exponent a float64."""
    s = (mantissa - 1.0) / (mantissa + 1.0)
    s2 = s * s
    series = LOG_SERIES[0]
    for index in range(1, LOG_SERIES.size):
        series = series * s2 + LOG_SERIES[index]
    twice = s + s
    return exponent * LOG_LN2_HIGH + ((twice + twice * (s2 * series)) + exponent * LOG_LN2_LOW)
