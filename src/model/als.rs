//! Implicit-feedback matrix factorization (Hu, Koren, Volinsky 2008) by alternating least
//! squares: preference 1 where a user watched an anchor, confidence `c` there (1 + α·r,
//! from watch time), preference 0 with confidence 1 elsewhere. Each half-step solves, per
//! row, `(YᵀY + λI + Yᵀ(C_u − I)Y) x_u = Yᵀ C_u p_u` — by a few conjugate-gradient steps
//! warm-started from the previous factors (Takács et al., as `implicit` does; `YᵀC_uY` is
//! never formed, `YᵀY + λI` is shared) or exactly by Cholesky (the reference).
//!
//! Factors are f32. Rows are solved in parallel (rayon), each row's arithmetic sequential
//! and reading only the other side's factors, and `YᵀY` is summed in a fixed order: for a
//! seed the result is bit-identical whatever the number of threads (tested).
//!
//! The `als` job (`builtin::als`) runs it on the likes of a window.

use anyhow::{Result, bail};
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

/// A sparse rows × columns matrix of confidences (CSR), each > 0 and finite.
#[derive(Debug, Clone)]
pub struct Confidences {
    rows: usize,
    columns: usize,
    offsets: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl Confidences {
    /// From (row, column, confidence) triples; a repeated (row, column) is refused.
    pub fn from_triples(
        rows: usize,
        columns: usize,
        mut triples: Vec<(u32, u32, f32)>,
    ) -> Result<Self> {
        triples.sort_unstable_by_key(|t| (t.0, t.1));
        let mut offsets = vec![0; rows + 1];
        for (k, &(r, c, v)) in triples.iter().enumerate() {
            if r as usize >= rows || c as usize >= columns {
                bail!("interaction ({r}, {c}) outside a {rows} × {columns} matrix");
            }
            if !(v.is_finite() && v > 0.0) {
                bail!("interaction ({r}, {c}): confidence must be finite and > 0, got {v}");
            }
            if k > 0 && triples[k - 1].0 == r && triples[k - 1].1 == c {
                bail!("interaction ({r}, {c}) given twice");
            }
            offsets[r as usize + 1] += 1;
        }
        for r in 0..rows {
            offsets[r + 1] += offsets[r];
        }
        Ok(Self {
            rows,
            columns,
            offsets,
            indices: triples.iter().map(|t| t.1).collect(),
            values: triples.iter().map(|t| t.2).collect(),
        })
    }

    fn row(&self, r: usize) -> impl Iterator<Item = (usize, f32)> + '_ {
        let span = self.offsets[r]..self.offsets[r + 1];
        self.indices[span.clone()]
            .iter()
            .zip(&self.values[span])
            .map(|(c, v)| (*c as usize, *v))
    }

    /// The columns of row `r` that hold a value, ascending.
    pub fn columns(&self, r: usize) -> impl Iterator<Item = usize> + '_ {
        self.row(r).map(|(c, _)| c)
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    fn transpose(&self) -> Self {
        let mut triples = Vec::with_capacity(self.nnz());
        for r in 0..self.rows {
            triples.extend(self.row(r).map(|(c, v)| (c as u32, r as u32, v)));
        }
        Self::from_triples(self.columns, self.rows, triples).expect("a valid matrix's transpose")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    ConjugateGradient,
    Cholesky,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AlsParams {
    pub factors: usize,
    pub regularization: f32,
    pub iterations: usize,
    /// Conjugate-gradient steps per row and half-iteration.
    pub cg_steps: usize,
    pub solver: Solver,
    pub seed: u64,
}

impl AlsParams {
    /// Refuses out-of-range parameters by name.
    pub fn check(&self) -> Result<()> {
        if self.factors == 0 || self.factors > 1024 {
            bail!("factors must be 1..=1024, got {}", self.factors);
        }
        if !(self.regularization.is_finite() && self.regularization >= 0.0) {
            bail!("regularization must be ≥ 0, got {}", self.regularization);
        }
        if self.iterations == 0 || self.cg_steps == 0 {
            bail!("iterations and cg_steps must be ≥ 1");
        }
        Ok(())
    }
}

/// User (row) and item (column) factors, row-major, `factors` each.
#[derive(Debug, Clone)]
pub struct AlsModel {
    pub factors: usize,
    pub users: Vec<f32>,
    pub items: Vec<f32>,
    /// The objective after each iteration (see [`loss`]).
    pub loss: Vec<f64>,
}

impl AlsModel {
    pub fn user(&self, u: usize) -> &[f32] {
        &self.users[u * self.factors..(u + 1) * self.factors]
    }

    pub fn item(&self, i: usize) -> &[f32] {
        &self.items[i * self.factors..(i + 1) * self.factors]
    }
}

/// Fits user and item factors to the confidences `c` (users × items).
pub fn fit(c: &Confidences, p: &AlsParams) -> Result<AlsModel> {
    p.check()?;
    if c.nnz() == 0 {
        bail!("no interactions to factorize (an empty window?)");
    }
    let k = p.factors;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(p.seed);
    let init = Normal::new(0.0f32, 0.01).expect("valid normal");
    let mut users: Vec<f32> = (0..c.rows * k).map(|_| init.sample(&mut rng)).collect();
    let mut items: Vec<f32> = (0..c.columns * k).map(|_| init.sample(&mut rng)).collect();
    let ct = c.transpose();
    let mut losses = Vec::with_capacity(p.iterations);
    for iteration in 0..p.iterations {
        solve_side(c, &items, &mut users, p);
        solve_side(&ct, &users, &mut items, p);
        if users.iter().chain(&items).any(|v| !v.is_finite()) {
            bail!(
                "ALS produced a non-finite factor in iteration {iteration}; raise regularization or lower the confidences"
            );
        }
        let l = loss(c, &users, &items, k, p.regularization);
        tracing::debug!(iteration, loss = l, "ALS iteration");
        losses.push(l);
    }
    Ok(AlsModel {
        factors: k,
        users,
        items,
        loss: losses,
    })
}

/// `YᵀY + λI` (k × k, row-major), summed over Y's rows in order.
fn gram(y: &[f32], k: usize, regularization: f32) -> Vec<f32> {
    let mut g = vec![0.0f32; k * k];
    for row in y.chunks_exact(k) {
        for a in 0..k {
            for b in 0..k {
                g[a * k + b] += row[a] * row[b];
            }
        }
    }
    for a in 0..k {
        g[a * k + a] += regularization;
    }
    g
}

/// Recomputes every row of `x` given the other side `y`.
fn solve_side(c: &Confidences, y: &[f32], x: &mut [f32], p: &AlsParams) {
    let k = p.factors;
    let g = gram(y, k, p.regularization);
    x.par_chunks_mut(k)
        .enumerate()
        .for_each(|(r, xr)| match p.solver {
            Solver::ConjugateGradient => cg_row(c, r, y, &g, xr, p.cg_steps),
            Solver::Cholesky => cholesky_row(c, r, y, &g, xr),
        });
}

/// Inner product in float32, summed in factor order (the candidates' score).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `out = G v`.
fn gram_times(g: &[f32], v: &[f32], out: &mut [f32]) {
    let k = v.len();
    for (a, o) in out.iter_mut().enumerate() {
        *o = dot(&g[a * k..(a + 1) * k], v);
    }
}

/// A few conjugate-gradient steps on row `r`'s system, from its current factors.
fn cg_row(c: &Confidences, r: usize, y: &[f32], g: &[f32], x: &mut [f32], steps: usize) {
    let k = x.len();
    let item = |i: usize| &y[i * k..(i + 1) * k];
    // r = b − A x with A = G + Σ (c − 1) y yᵀ, b = Σ c y.
    let mut res = vec![0.0f32; k];
    gram_times(g, x, &mut res);
    res.iter_mut().for_each(|v| *v = -*v);
    for (i, conf) in c.row(r) {
        let yi = item(i);
        let coef = conf - (conf - 1.0) * dot(yi, x);
        res.iter_mut().zip(yi).for_each(|(v, w)| *v += coef * w);
    }
    let mut dir = res.clone();
    let mut rs_old = dot(&res, &res);
    if rs_old < 1e-20 {
        return;
    }
    let mut ap = vec![0.0f32; k];
    for _ in 0..steps {
        gram_times(g, &dir, &mut ap);
        for (i, conf) in c.row(r) {
            let yi = item(i);
            let coef = (conf - 1.0) * dot(yi, &dir);
            ap.iter_mut().zip(yi).for_each(|(v, w)| *v += coef * w);
        }
        let alpha = rs_old / dot(&dir, &ap);
        x.iter_mut().zip(&dir).for_each(|(v, d)| *v += alpha * d);
        res.iter_mut().zip(&ap).for_each(|(v, a)| *v -= alpha * a);
        let rs_new = dot(&res, &res);
        if rs_new < 1e-20 {
            break;
        }
        let beta = rs_new / rs_old;
        dir.iter_mut()
            .zip(&res)
            .for_each(|(d, v)| *d = v + beta * *d);
        rs_old = rs_new;
    }
}

/// Row `r`'s system solved exactly: A formed, then Cholesky (in f64).
fn cholesky_row(c: &Confidences, r: usize, y: &[f32], g: &[f32], x: &mut [f32]) {
    let k = x.len();
    let mut a: Vec<f64> = g.iter().map(|v| *v as f64).collect();
    let mut b = vec![0.0f64; k];
    for (i, conf) in c.row(r) {
        let yi = &y[i * k..(i + 1) * k];
        for p in 0..k {
            b[p] += conf as f64 * yi[p] as f64;
            for q in 0..k {
                a[p * k + q] += (conf as f64 - 1.0) * yi[p] as f64 * yi[q] as f64;
            }
        }
    }
    // A = L Lᵀ, in place in the lower triangle.
    for j in 0..k {
        let mut d = a[j * k + j];
        for m in 0..j {
            d -= a[j * k + m] * a[j * k + m];
        }
        let d = d.max(1e-300).sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= a[i * k + m] * a[j * k + m];
            }
            a[i * k + j] = s / d;
        }
    }
    // L z = b, then Lᵀ x = z.
    for i in 0..k {
        let s: f64 = (0..i).map(|m| a[i * k + m] * b[m]).sum();
        b[i] = (b[i] - s) / a[i * k + i];
    }
    for i in (0..k).rev() {
        let s: f64 = (i + 1..k).map(|m| a[m * k + i] * b[m]).sum();
        b[i] = (b[i] - s) / a[i * k + i];
    }
    x.iter_mut().zip(&b).for_each(|(v, s)| *v = *s as f32);
}

/// The objective: `Σ_all c_ui (p_ui − x_u·y_i)² + λ(|X|² + |Y|²)` over every (user, item)
/// pair (unobserved ones with c = 1, p = 0), computed from the observed entries and `YᵀY`.
pub fn loss(c: &Confidences, users: &[f32], items: &[f32], k: usize, regularization: f32) -> f64 {
    let g = gram(items, k, 0.0);
    let mut gx = vec![0.0f32; k];
    let mut total = 0.0f64;
    for (u, xu) in users.chunks_exact(k).enumerate() {
        gram_times(&g, xu, &mut gx);
        // Every pair as unobserved: Σ_i (x·y_i)² = xᵀ YᵀY x; then correct the observed ones.
        total += dot(xu, &gx) as f64;
        for (i, conf) in c.row(u) {
            let s = dot(xu, &items[i * k..(i + 1) * k]) as f64;
            total += conf as f64 * (1.0 - s) * (1.0 - s) - s * s;
        }
    }
    let norms: f64 = users
        .iter()
        .chain(items)
        .map(|v| (*v as f64) * (*v as f64))
        .sum();
    total + regularization as f64 * norms
}

#[cfg(test)]
mod tests {
    use rand::Rng;

    use super::*;

    /// Two communities: users 0..20 like items 0..10, users 20..40 like items 10..20, each
    /// user 5 items of their community with confidences 1 + α·r.
    fn communities(seed: u64) -> Confidences {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut triples = Vec::new();
        for u in 0..40u32 {
            let base = if u < 20 { 0 } else { 10 };
            let mut picked: Vec<u32> = Vec::new();
            while picked.len() < 5 {
                let i = base + rng.random_range(0..10);
                if !picked.contains(&i) {
                    picked.push(i);
                    triples.push((u, i, 1.0 + 2.0 * rng.random_range(0.1..3.0f32)));
                }
            }
        }
        Confidences::from_triples(40, 20, triples).unwrap()
    }

    fn params(solver: Solver) -> AlsParams {
        AlsParams {
            factors: 8,
            regularization: 0.05,
            iterations: 15,
            cg_steps: 3,
            solver,
            seed: 1,
        }
    }

    #[test]
    fn conjugate_gradient_reaches_what_cholesky_solves_exactly() {
        let c = communities(3);
        let cg = fit(
            &c,
            &AlsParams {
                cg_steps: 8,
                ..params(Solver::ConjugateGradient)
            },
        )
        .unwrap();
        let exact = fit(&c, &params(Solver::Cholesky)).unwrap();
        // Both minimize the same objective from the same start.
        let (a, b) = (cg.loss.last().unwrap(), exact.loss.last().unwrap());
        assert!(
            (a - b).abs() <= 1e-3 * b.abs().max(1.0),
            "CG loss {a} vs Cholesky {b}"
        );
        // Predicted preferences agree.
        let mut worst = 0f32;
        for u in 0..40 {
            for i in 0..20 {
                worst = worst
                    .max((dot(cg.user(u), cg.item(i)) - dot(exact.user(u), exact.item(i))).abs());
            }
        }
        assert!(worst < 2e-2, "largest difference in x·y: {worst}");
    }

    #[test]
    fn the_loss_falls_and_communities_are_recovered() {
        let c = communities(5);
        let m = fit(&c, &params(Solver::ConjugateGradient)).unwrap();
        assert!(m.loss.last() < m.loss.first(), "{:?}", m.loss);
        for u in 0..40 {
            let own = if u < 20 { 0..10 } else { 10..20 };
            let best = (0..20)
                .max_by(|&a, &b| dot(m.user(u), m.item(a)).total_cmp(&dot(m.user(u), m.item(b))))
                .unwrap();
            assert!(own.contains(&best), "user {u}: best item {best}");
        }
    }

    #[test]
    fn the_factors_do_not_depend_on_the_number_of_threads() {
        let c = communities(7);
        let with = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| fit(&c, &params(Solver::ConjugateGradient)).unwrap())
        };
        let (one, three) = (with(1), with(3));
        assert!(
            one.users
                .iter()
                .zip(&three.users)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert!(
            one.items
                .iter()
                .zip(&three.items)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
    }

    #[test]
    fn bad_input_is_refused_by_name() {
        let err = |r: Result<Confidences>| r.unwrap_err().to_string();
        assert!(err(Confidences::from_triples(2, 2, vec![(0, 0, f32::NAN)])).contains("finite"));
        assert!(err(Confidences::from_triples(2, 2, vec![(0, 0, -1.0)])).contains("> 0"));
        assert!(err(Confidences::from_triples(2, 2, vec![(0, 5, 1.0)])).contains("outside"));
        assert!(
            err(Confidences::from_triples(
                2,
                2,
                vec![(0, 1, 1.0), (0, 1, 2.0)]
            ))
            .contains("twice")
        );
        let empty = Confidences::from_triples(3, 3, Vec::new()).unwrap();
        let e = fit(&empty, &params(Solver::ConjugateGradient))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no interactions"), "{e}");
        let c = communities(1);
        let e = fit(
            &c,
            &AlsParams {
                factors: 2000,
                ..params(Solver::Cholesky)
            },
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("factors must be 1..=1024"), "{e}");
    }
}
