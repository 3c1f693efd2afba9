//! Element-wise activations in place, without a gate: BERT's FFN
//! (`gelu(x W_up + b)`) and the tanh of a classification head's pooler.
//!
//! The activations of [`Activation`] share their stable forms with
//! [`super::glu`]; tanh is `sign(x) (1 - e) / (1 + e)` with `e = e^(-2|x|)`,
//! which never overflows.

use super::glu::activate;
use crate::model::Activation;
use crate::{NavajaError, Result};

/// An element-wise function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unary {
    /// One of the FFN activations (SiLU, GELU tanh, GELU erf).
    Activation(Activation),
    Tanh,
}

/// tanh in f64, in the overflow-free form the GPU kernel uses.
pub fn tanh(x: f64) -> f64 {
    let e = (-2.0 * x.abs()).exp();
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// `f(x)` in f64.
pub fn apply(f: Unary, x: f64) -> f64 {
    match f {
        Unary::Activation(a) => activate(a, x),
        Unary::Tanh => tanh(x),
    }
}

/// `x[i] = f(x[i])` in place; an empty input is `invalid-argument` (as on the GPU).
pub fn unary_ref(x: &mut [f32], f: Unary) -> Result<()> {
    if x.is_empty() {
        return Err(NavajaError::invalid("activation: the input is empty"));
    }
    for v in x.iter_mut() {
        *v = apply(f, f64::from(*v)) as f32;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tanh_matches_std_and_saturates() {
        for x in [-30.0, -3.0, -0.5, -1e-8, 0.0, 1e-8, 0.25, 2.0, 20.0] {
            assert!((tanh(x) - f64::tanh(x)).abs() < 1e-15, "tanh({x})");
        }
        assert_eq!(tanh(1e300), 1.0);
        assert_eq!(tanh(-1e300), -1.0);
    }

    #[test]
    fn applies_in_place() {
        let mut x = vec![0.0, 1.0, -1.0];
        unary_ref(&mut x, Unary::Activation(Activation::Gelu)).unwrap();
        assert!((x[1] - 0.841_344_7).abs() < 1e-6 && (x[2] + 0.158_655_3).abs() < 1e-6);
        let mut y = vec![0.5f32];
        unary_ref(&mut y, Unary::Tanh).unwrap();
        assert!((y[0] - 0.5f32.tanh()).abs() < 1e-7);
        assert_eq!(unary_ref(&mut [], Unary::Tanh).unwrap_err().code(), "invalid-argument");
    }
}
