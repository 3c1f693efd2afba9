// Activations shared by glu.wgsl and unary.wgsl; ACT (prepended) picks one:
// 0 SiLU, 1 GELU (tanh), 2 GELU (erf), 3 tanh.
// Each is computed without overflow or cancellation, so large |x| never
// produce NaN (some drivers' tanh does):
//   silu:      x * sigmoid(x)
//   gelu_tanh: x * 0.5 * (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
//   gelu:      x * 0.5 * (1 + erf(x / sqrt 2)) = x * 0.5 * erfc(-x / sqrt 2)
//   tanh:      sign(x) (1 - e) / (1 + e), e = e^(-2|x|)

// 1 / (1 + e^-x); the exponent is always <= 0, so it never overflows.
fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    let s = 1.0 / (1.0 + e);
    return select(e * s, s, x >= 0.0);
}

// erfc(z) for z >= 0 with relative error below 1.2e-7 (Chebyshev fit of
// erfc(z) e^(z^2) in t = 1 / (1 + z/2), as in Numerical Recipes' erfcc).
fn erfc_pos(z: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    return t * exp(-z * z + poly);
}

fn stable_tanh(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(t, -t, x < 0.0);
}

fn activate(x: f32) -> f32 {
    if (ACT == 0u) {
        return x * sigmoid(x);
    }
    if (ACT == 1u) {
        let x3 = clamp(x, -1e4, 1e4); // x^3 stays finite; sigmoid is saturated long before
        return x * sigmoid(1.5957691216057308 * (x3 + 0.044715 * x3 * x3 * x3));
    }
    if (ACT == 3u) {
        return stable_tanh(x);
    }
    // Phi(x) = 0.5 erfc(-x / sqrt 2): erfc of a positive argument for x < 0
    // (the tail, relative accuracy kept), 1 - 0.5 erfc(x / sqrt 2) otherwise.
    let z = min(abs(x) * 0.70710678118654752, 30.0);
    let tail = 0.5 * erfc_pos(z);
    return x * select(1.0 - tail, tail, x < 0.0);
}
