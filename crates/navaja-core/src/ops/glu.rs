//! Gated linear units: `gate = act(gate) * up`, element by element, for the
//! activations of [`Activation`] (SwiGLU, GeGLU with tanh or erf GELU).
//!
//! Each activation is written in a form that is stable for large |x|:
//! `silu(x) = x * sigmoid(x)`, and both GELUs as `x * P(x)` with `P` a
//! probability computed without cancellation (`0.5 * (1 + tanh(u))` is
//! `sigmoid(2u)`; `0.5 * (1 + erf(z))` is `0.5 * erfc(-z)`).

use crate::model::Activation;
use crate::{NavajaError, Result};

/// sqrt(2 / pi), the tanh-GELU's inner scale.
const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;

/// `1 / (1 + e^-x)` without overflow for either sign.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// Complementary error function to ~1e-15 relative: a power series of erf
/// for |z| < 2.5, a continued fraction of erfc beyond (where 1 - erf would cancel).
pub fn erfc(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    if z < 0.0 {
        return 2.0 - erfc(-z);
    }
    if z < 2.5 {
        // erf(z) = 2/sqrt(pi) * e^(-z²) * sum_n (2z²)^n z / (1·3·…·(2n+1)): all terms positive.
        let mut term = z;
        let mut sum = z;
        let mut n = 0.0;
        while term > sum * 1e-17 {
            n += 1.0;
            term *= 2.0 * z * z / (2.0 * n + 1.0);
            sum += term;
        }
        return 1.0 - 2.0 / std::f64::consts::PI.sqrt() * (-z * z).exp() * sum;
    }
    // erfc(z) = e^(-z²) / sqrt(pi) / (z + (1/2) / (z + 1 / (z + (3/2) / (z + ...)))), evaluated from the tail.
    let mut cf = z;
    for k in (1..=80).rev() {
        cf = z + (k as f64 / 2.0) / cf;
    }
    (-z * z).exp() / std::f64::consts::PI.sqrt() / cf
}

/// The activation alone, in f64.
pub fn activate(activation: Activation, x: f64) -> f64 {
    match activation {
        Activation::Silu => x * sigmoid(x),
        Activation::GeluTanh => x * sigmoid(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)),
        Activation::Gelu => x * 0.5 * erfc(-x / std::f64::consts::SQRT_2),
    }
}

/// Checks a GLU call's lengths; shared with the GPU op.
pub fn check_glu(gate_len: usize, up_len: usize) -> Result<()> {
    if gate_len == 0 {
        return Err(NavajaError::invalid("glu: the input is empty"));
    }
    if gate_len != up_len {
        return Err(NavajaError::invalid(format!("glu: gate has {gate_len} values but up has {up_len}")));
    }
    Ok(())
}

/// `gate[i] = act(gate[i]) * up[i]`, in place.
pub fn glu_ref(gate: &mut [f32], up: &[f32], activation: Activation) -> Result<()> {
    check_glu(gate.len(), up.len())?;
    for (g, &u) in gate.iter_mut().zip(up) {
        *g = (activate(activation, f64::from(*g)) * f64::from(u)) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_matches_known_values() {
        // Reference values of erfc to 16 digits.
        let cases = [
            (0.0, 1.0),
            (0.5, 0.479_500_122_186_953_5),
            (1.0, 0.157_299_207_050_285_1),
            (2.0, 0.004_677_734_981_047_266),
            (2.5, 4.069_520_174_449_59e-4),
            (3.0, 2.209_049_699_858_544e-5),
            (5.0, 1.537_459_794_428_035e-12),
            (-1.0, 1.842_700_792_949_715),
        ];
        for (z, want) in cases {
            let got = erfc(z);
            assert!(((got - want) / want).abs() < 1e-12, "erfc({z}) = {got}, want {want}");
        }
        // Continuity across the switch between series and continued fraction.
        let (a, b) = (erfc(2.5 - 1e-12), erfc(2.5));
        assert!(((a - b) / b).abs() < 1e-10);
    }

    #[test]
    fn activations_at_known_points() {
        assert!((activate(Activation::Silu, 1.0) - 0.731_058_578_630_004_9).abs() < 1e-15);
        assert!((activate(Activation::Gelu, 1.0) - 0.841_344_746_068_542_9).abs() < 1e-14);
        // tanh form: 0.5 * (1 + tanh(sqrt(2/pi) * 1.044715))
        let u = SQRT_2_OVER_PI * 1.044715;
        assert!((activate(Activation::GeluTanh, 1.0) - 0.5 * (1.0 + u.tanh())).abs() < 1e-15);
        for act in [Activation::Silu, Activation::GeluTanh, Activation::Gelu] {
            assert_eq!(activate(act, 1e4), 1e4);
            assert_eq!(activate(act, -1e4), 0.0);
            assert!(activate(act, -1e300).is_finite());
        }
    }

    #[test]
    fn glu_multiplies_by_up_and_rejects_bad_lengths() {
        let mut g = vec![0.0, 100.0];
        glu_ref(&mut g, &[3.0, 2.0], Activation::Silu).unwrap();
        assert_eq!(g, vec![0.0, 200.0]);
        assert_eq!(glu_ref(&mut [], &[], Activation::Silu).unwrap_err().code(), "invalid-argument");
        assert_eq!(glu_ref(&mut [1.0], &[1.0, 2.0], Activation::Gelu).unwrap_err().code(), "invalid-argument");
    }
}
