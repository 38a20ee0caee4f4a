//! Bucket accumulation for one window: in affine coordinates with one
//! field inversion per batch of additions ([`AffineBuckets`]), or in
//! extended Jacobian coordinates ([`XyzzBuckets`], for windows with too
//! few points per bucket for batching to pay).
//!
//! An affine addition `Q + P` costs one inversion of `x_P − x_Q` (or `2y_Q`
//! for a doubling); Montgomery's trick inverts a whole batch for one
//! inversion and three multiplications per element, so an addition costs
//! about 6 multiplications against about 10 for a mixed XYZZ addition.

use ark_ec::AffineRepr;
use ark_ec::short_weierstrass::{Affine, Bucket, SWCurveConfig};
use ark_ff::{AdditiveGroup, Field};

/// A window's buckets: points are added to bucket `b`, then
/// [`Buckets::finish`] returns `Σ (b + 1)·bucket_b`.
pub(crate) trait Buckets<P: SWCurveConfig> {
    /// Adds `p` to bucket `b`.
    fn add(&mut self, b: usize, p: Affine<P>);
    /// The weighted sum of the buckets and their plain sum.
    fn finish_sums(self) -> (Bucket<P>, Bucket<P>);
    /// The weighted sum of the buckets.
    fn finish(self) -> Bucket<P>
    where
        Self: Sized,
    {
        self.finish_sums().0
    }
}

/// Buckets in extended Jacobian (XYZZ) coordinates.
pub(crate) struct XyzzBuckets<P: SWCurveConfig>(Vec<Bucket<P>>);

impl<P: SWCurveConfig> XyzzBuckets<P> {
    pub(crate) fn new(n: usize) -> Self {
        XyzzBuckets(vec![Bucket::ZERO; n])
    }
}

impl<P: SWCurveConfig> Buckets<P> for XyzzBuckets<P> {
    fn add(&mut self, b: usize, p: Affine<P>) {
        self.0[b] += &p;
    }

    fn finish_sums(self) -> (Bucket<P>, Bucket<P>) {
        let (mut running, mut sum) = (Bucket::ZERO, Bucket::ZERO);
        for b in self.0.iter().rev() {
            running += b;
            sum += &running;
        }
        (sum, running)
    }
}

/// Buckets in affine coordinates, added to in batches of up to `cap`
/// distinct buckets. A point for a bucket already in the batch waits in a
/// queue for the next batch; past `cap` waiting points (many equal
/// digits on one base) the excess goes to XYZZ overflow buckets, so no
/// input is quadratic.
pub(crate) struct AffineBuckets<P: SWCurveConfig> {
    buckets: Vec<Affine<P>>,
    busy: Vec<bool>,
    pending: Vec<(usize, Affine<P>)>,
    queue: Vec<(usize, Affine<P>)>,
    overflow: Vec<Bucket<P>>,
    den: Vec<P::BaseField>,
    scratch: Vec<P::BaseField>,
    cap: usize,
}

impl<P: SWCurveConfig> AffineBuckets<P> {
    /// `n` buckets, batches of `cap` additions.
    pub(crate) fn new(n: usize, cap: usize) -> Self {
        AffineBuckets {
            buckets: vec![Affine::identity(); n],
            busy: vec![false; n],
            pending: Vec::with_capacity(cap),
            queue: Vec::new(),
            overflow: Vec::new(),
            den: Vec::with_capacity(cap),
            scratch: Vec::with_capacity(cap),
            cap: cap.max(1),
        }
    }

    /// Schedules `bucket_b + p`, or settles it at once when no inversion
    /// is needed (empty bucket, `p = −bucket_b`, or a point of order 2
    /// doubled).
    fn schedule(&mut self, b: usize, p: Affine<P>) {
        if self.busy[b] {
            if self.queue.len() < self.cap {
                self.queue.push((b, p));
            } else {
                self.spill(b, p);
            }
            return;
        }
        let q = self.buckets[b];
        if q.is_zero() {
            self.buckets[b] = p;
        } else if q.x == p.x && (q.y != p.y || p.y == P::BaseField::ZERO) {
            self.buckets[b] = Affine::identity();
        } else {
            self.busy[b] = true;
            self.pending.push((b, p));
        }
    }

    /// Adds `p` to bucket `b`'s overflow.
    fn spill(&mut self, b: usize, p: Affine<P>) {
        if self.overflow.is_empty() {
            self.overflow = vec![Bucket::ZERO; self.buckets.len()];
        }
        self.overflow[b] += &p;
    }

    /// Performs the pending additions (one inversion), then schedules the
    /// queued points.
    fn flush(&mut self) {
        self.den.clear();
        for &(b, p) in &self.pending {
            let q = self.buckets[b];
            self.den
                .push(if q.x == p.x { q.y.double() } else { p.x - q.x });
        }
        batch_invert(&mut self.den, &mut self.scratch);
        for (&(b, p), inv) in self.pending.iter().zip(&self.den) {
            self.buckets[b] = add_with_inverse(self.buckets[b], p, *inv);
            self.busy[b] = false;
        }
        self.pending.clear();
        let mut queue = std::mem::take(&mut self.queue);
        for (b, p) in queue.drain(..) {
            self.schedule(b, p);
        }
        if self.queue.is_empty() {
            self.queue = queue;
        }
    }
}

impl<P: SWCurveConfig> Buckets<P> for AffineBuckets<P> {
    fn add(&mut self, b: usize, p: Affine<P>) {
        self.schedule(b, p);
        while self.pending.len() >= self.cap {
            self.flush();
        }
    }

    fn finish_sums(mut self) -> (Bucket<P>, Bucket<P>) {
        while !self.pending.is_empty() || !self.queue.is_empty() {
            self.flush();
        }
        let (mut running, mut sum) = (Bucket::ZERO, Bucket::ZERO);
        for (b, q) in self.buckets.iter().enumerate().rev() {
            running += q;
            if let Some(o) = self.overflow.get(b) {
                running += o;
            }
            sum += &running;
        }
        (sum, running)
    }
}

/// `q + p` for affine `q, p` (neither at infinity, `p ≠ −q`) given
/// `inv = 1/(x_p − x_q)`, or `1/(2y_q)` when `p = q`.
fn add_with_inverse<P: SWCurveConfig>(q: Affine<P>, p: Affine<P>, inv: P::BaseField) -> Affine<P> {
    let lambda = if q.x == p.x {
        let x2 = q.x.square();
        (x2.double() + x2 + P::COEFF_A) * inv
    } else {
        (p.y - q.y) * inv
    };
    let x3 = lambda.square() - q.x - p.x;
    let y3 = lambda * (q.x - x3) - q.y;
    Affine::new_unchecked(x3, y3)
}

/// Replaces every element of `v` (all non-zero) by its inverse, with one
/// field inversion (Montgomery's trick); `scratch` holds prefix products.
fn batch_invert<F: Field>(v: &mut [F], scratch: &mut Vec<F>) {
    scratch.clear();
    let mut acc = F::ONE;
    for x in v.iter() {
        scratch.push(acc);
        acc *= x;
    }
    // Non-zero by construction (distinct x, or y ≠ 0 for a doubling).
    let mut inv = acc.inverse().unwrap_or(F::ZERO);
    for (x, prefix) in v.iter_mut().zip(scratch.iter()).rev() {
        let next = inv * *x;
        *x = inv * prefix;
        inv = next;
    }
}
