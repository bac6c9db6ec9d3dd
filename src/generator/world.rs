//! The static part of the synthetic platform: categories, anchors and users with their
//! popularity, interests, activity and spending propensity. Everything derives from the seed.

use rand::Rng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal};

pub const CATEGORIES: [&str; 16] = [
    "music",
    "dance",
    "chat",
    "gaming",
    "outdoor",
    "food",
    "beauty",
    "sports",
    "education",
    "pets",
    "comedy",
    "fashion",
    "travel",
    "tech",
    "finance",
    "talent",
];

pub const CITIES: [&str; 24] = [
    "beijing",
    "shanghai",
    "guangzhou",
    "shenzhen",
    "chengdu",
    "hangzhou",
    "wuhan",
    "chongqing",
    "xian",
    "nanjing",
    "tianjin",
    "suzhou",
    "changsha",
    "zhengzhou",
    "shenyang",
    "qingdao",
    "jinan",
    "harbin",
    "kunming",
    "dalian",
    "xiamen",
    "fuzhou",
    "hefei",
    "nanning",
];

pub const ANCHOR_ID_BASE: i64 = 900_000_000;
pub const USER_ID_BASE: i64 = 1;

pub struct Anchor {
    pub id: i64,
    pub category: u8,
    /// Zipf-like popularity weight (sums to 1 over anchors).
    pub popularity: f64,
    /// Popularity rank quantile in [0, 1), 0 = most popular.
    pub rank_q: f64,
    pub live_prob: f64,
    pub start_hour: f64,
    pub session_hours: f64,
    pub gender: &'static str,
    pub age: i32,
    pub city: &'static str,
}

pub struct User {
    pub id: i64,
    /// Interest weight per category (sums to 1).
    pub interests: [f32; CATEGORIES.len()],
    pub max_interest: f32,
    /// Mean visits per day.
    pub activity: f64,
    /// Gift propensity multiplier: a few "whales" send most gifts.
    pub spend: f64,
    /// Day index (relative to the first generated day) the user registered; negative = before.
    pub register_day: i64,
    pub gender: &'static str,
    pub age: i32,
    pub city: &'static str,
}

pub struct World {
    pub anchors: Vec<Anchor>,
    pub users: Vec<User>,
}

/// Index sampled in proportion to `weights` via a cumulative table.
pub fn pick_weighted(cumulative: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let total = *cumulative.last().unwrap_or(&0.0);
    let x = rng.random::<f64>() * total;
    cumulative
        .partition_point(|c| *c <= x)
        .min(cumulative.len().saturating_sub(1))
}

pub fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

fn zipf_weights(n: usize, s: f64) -> Vec<f64> {
    (0..n).map(|r| 1.0 / ((r + 1) as f64).powf(s)).collect()
}

impl World {
    pub fn build(users: usize, anchors: usize, days: i64, rng: &mut ChaCha8Rng) -> Self {
        let category_cum = cumulative(zipf_weights(CATEGORIES.len(), 0.8).into_iter());
        let city_cum = cumulative(zipf_weights(CITIES.len(), 1.0).into_iter());

        // Anchor popularity: Zipf over a random rank order.
        let mut ranks: Vec<usize> = (0..anchors).collect();
        ranks.shuffle(rng);
        let pop = zipf_weights(anchors, 1.1);
        let pop_total: f64 = pop.iter().sum();
        let session_len = LogNormal::new(2.5f64.ln(), 0.45).expect("valid lognormal");
        let anchors: Vec<Anchor> = (0..anchors)
            .map(|i| {
                let rank = ranks[i];
                let rank_q = rank as f64 / anchors.max(1) as f64;
                let evening = rng.random::<f64>() < 0.75;
                let start_hour = if evening {
                    18.0 + rng.random::<f64>() * 4.0
                } else {
                    8.0 + rng.random::<f64>() * 10.0
                };
                Anchor {
                    id: ANCHOR_ID_BASE + i as i64,
                    category: pick_weighted(&category_cum, rng) as u8,
                    popularity: pop[rank] / pop_total,
                    rank_q,
                    live_prob: 0.3 + 0.6 * (1.0 - rank_q),
                    start_hour,
                    session_hours: session_len.sample(rng).clamp(0.5, 8.0),
                    gender: if rng.random::<f64>() < 0.7 { "F" } else { "M" },
                    age: rng.random_range(18..41),
                    city: CITIES[pick_weighted(&city_cum, rng)],
                }
            })
            .collect();

        let activity = LogNormal::new(1.2f64.ln() - 0.5, 1.0).expect("valid lognormal");
        let users: Vec<User> = (0..users)
            .map(|i| {
                let mut interests = [0.0f32; CATEGORIES.len()];
                let spread = 0.05 / CATEGORIES.len() as f32;
                interests.iter_mut().for_each(|w| *w = spread);
                let favourites = rng.random_range(1..4);
                for share in [0.6f32, 0.25, 0.1].into_iter().take(favourites) {
                    interests[pick_weighted(&category_cum, rng)] += share;
                }
                let total: f32 = interests.iter().sum();
                interests.iter_mut().for_each(|w| *w /= total);
                let max_interest = interests.iter().copied().fold(0.0, f32::max);
                let register_day = if rng.random::<f64>() < 0.85 {
                    -rng.random_range(1..1000)
                } else {
                    rng.random_range(0..days.max(1))
                };
                User {
                    id: USER_ID_BASE + i as i64,
                    interests,
                    max_interest,
                    activity: activity.sample(rng).min(12.0),
                    spend: if rng.random::<f64>() < 0.03 {
                        25.0
                    } else {
                        1.0
                    },
                    register_day,
                    gender: if rng.random::<f64>() < 0.6 { "M" } else { "F" },
                    age: rng.random_range(16..61),
                    city: CITIES[pick_weighted(&city_cum, rng)],
                }
            })
            .collect();
        World { anchors, users }
    }
}
