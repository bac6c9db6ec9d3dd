//! One simulated day: anchors go live, users visit, see a page of live rooms, watch some,
//! interact during long watches, and come back to anchors they liked or follow.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, LogNormal, Pareto, Poisson};

use super::tables::{Exposures, Interactions, LiveSessions, Watches};
use super::world::{Anchor, CATEGORIES, User, World, cumulative, pick_weighted};

const MICROS: i64 = 1_000_000;
const DAY_MICROS: i64 = 86_400 * MICROS;
/// Relative visit intensity per hour of day (evening peak).
const HOURLY: [f64; 24] = [
    3.0, 2.0, 1.2, 0.8, 0.5, 0.4, 0.5, 0.9, 1.4, 1.8, 2.0, 2.2, 2.6, 2.4, 2.2, 2.3, 2.6, 3.0, 3.8,
    4.6, 5.6, 6.4, 6.0, 4.5,
];
const AFFINITY_CAP: usize = 24;

pub struct Session {
    pub anchor: u32,
    pub live_id: i64,
    pub start: i64,
    pub end: i64,
}

/// A user's memory across days: anchors liked (with strength) and followed.
#[derive(Default, Clone)]
pub struct UserState {
    pub affinity: Vec<(u32, f32, bool)>,
}

impl UserState {
    fn strength(&self, anchor: u32) -> Option<(f32, bool)> {
        self.affinity
            .iter()
            .find(|(a, _, _)| *a == anchor)
            .map(|(_, s, f)| (*s, *f))
    }

    fn reinforce(&mut self, anchor: u32, by: f32, follow: bool) {
        if let Some(e) = self.affinity.iter_mut().find(|(a, _, _)| *a == anchor) {
            e.1 += by;
            e.2 |= follow;
            return;
        }
        if self.affinity.len() >= AFFINITY_CAP {
            // Forget the weakest anchor that is not followed.
            if let Some((i, _)) = self
                .affinity
                .iter()
                .enumerate()
                .filter(|(_, e)| !e.2)
                .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
            {
                self.affinity.swap_remove(i);
            } else {
                return;
            }
        }
        self.affinity.push((anchor, by, follow));
    }
}

/// Live sessions of the day and an index of who is live in each hour.
pub struct LiveIndex {
    pub sessions: Vec<Session>,
    by_hour: Vec<(Vec<u32>, Vec<f64>)>,
    session_of_anchor: Vec<Option<u32>>,
}

impl LiveIndex {
    pub fn schedule(world: &World, day_start: i64, day_ordinal: i64, rng: &mut ChaCha8Rng) -> Self {
        let mut sessions = Vec::new();
        let mut session_of_anchor = vec![None; world.anchors.len()];
        for (i, a) in world.anchors.iter().enumerate() {
            if rng.random::<f64>() >= a.live_prob {
                continue;
            }
            let hour = (a.start_hour + rng.random_range(-1.5..1.5)).clamp(0.0, 23.5);
            let start = day_start + (hour * 3600.0) as i64 * MICROS;
            let length = (a.session_hours * rng.random_range(0.6..1.4) * 3600.0) as i64 * MICROS;
            // Sessions end by midnight, so every event lies inside its day's partition.
            let end = (start + length.max(600 * MICROS)).min(day_start + DAY_MICROS - MICROS);
            session_of_anchor[i] = Some(sessions.len() as u32);
            sessions.push(Session {
                anchor: i as u32,
                live_id: day_ordinal * 1_000_000 + i as i64,
                start,
                end,
            });
        }
        let mut by_hour = Vec::with_capacity(24);
        for h in 0..24 {
            let (lo, hi) = (
                day_start + h * 3600 * MICROS,
                day_start + (h + 1) * 3600 * MICROS,
            );
            let live: Vec<u32> = (0..sessions.len() as u32)
                .filter(|&s| sessions[s as usize].start < hi && sessions[s as usize].end > lo)
                .collect();
            let cum = cumulative(
                live.iter()
                    .map(|&s| world.anchors[sessions[s as usize].anchor as usize].popularity),
            );
            by_hour.push((live, cum));
        }
        LiveIndex {
            sessions,
            by_hour,
            session_of_anchor,
        }
    }

    fn live_session(&self, anchor: u32, t: i64) -> Option<&Session> {
        let s = &self.sessions[self.session_of_anchor[anchor as usize]? as usize];
        (s.start <= t && t < s.end).then_some(s)
    }

    pub fn write(&self, world: &World, out: &mut LiveSessions) {
        for s in &self.sessions {
            let a = &world.anchors[s.anchor as usize];
            out.live_id.push(s.live_id);
            out.anchor_id.push(a.id);
            out.start_ts.push(s.start);
            out.end_ts.push(s.end);
            out.category.push(Some(CATEGORIES[a.category as usize]));
        }
    }
}

pub struct Buffers {
    pub exposures: Exposures,
    pub watches: Watches,
    pub interactions: Interactions,
}

pub struct DayModel {
    hour_cum: Vec<f64>,
    engaged: LogNormal<f64>,
    gift_value: Pareto<f64>,
}

impl DayModel {
    pub fn new() -> Self {
        Self {
            hour_cum: cumulative(HOURLY.iter().copied()),
            engaged: LogNormal::new(90f64.ln(), 1.2).expect("valid lognormal"),
            gift_value: Pareto::new(1.0, 1.16).expect("valid pareto"),
        }
    }

    /// Simulates one user's visits of the day.
    #[allow(clippy::too_many_arguments)]
    pub fn simulate_user(
        &self,
        world: &World,
        user: &User,
        state: &mut UserState,
        live: &LiveIndex,
        day_start: i64,
        rng: &mut ChaCha8Rng,
        out: &mut Buffers,
    ) {
        let Ok(visits) = Poisson::new(user.activity.max(1e-6)) else {
            return;
        };
        let n = (visits.sample(rng) as usize).min(10);
        let mut slots: Vec<(u32, &'static str)> = Vec::with_capacity(12);
        for _ in 0..n {
            let hour = pick_weighted(&self.hour_cum, rng);
            let t = day_start + hour as i64 * 3600 * MICROS + rng.random_range(0..3600) * MICROS;
            let (hour_live, hour_cum) = &live.by_hour[hour];
            if hour_live.is_empty() {
                continue;
            }
            slots.clear();
            // Repeat consumption first: followed and liked anchors that are live now.
            for &(a, strength, followed) in &state.affinity {
                let p = if followed {
                    0.9
                } else {
                    (0.5 + 0.1 * strength as f64).min(0.8)
                };
                if live.live_session(a, t).is_some() && rng.random::<f64>() < p {
                    slots.push((a, if followed { "follow" } else { "home" }));
                }
            }
            let page_size = rng.random_range(6..11).max(slots.len());
            let mut attempts = 0;
            while slots.len() < page_size && attempts < page_size * 4 {
                attempts += 1;
                let s = &live.sessions[hour_live[pick_weighted(hour_cum, rng)] as usize];
                if !(s.start <= t && t < s.end) || slots.iter().any(|(a, _)| *a == s.anchor) {
                    continue;
                }
                let a = &world.anchors[s.anchor as usize];
                let fit = user.interests[a.category as usize] / user.max_interest;
                if rng.random::<f64>() < 0.15 + 0.85 * fit as f64 {
                    let page = if rng.random::<f64>() < 0.1 {
                        "category"
                    } else {
                        "home"
                    };
                    slots.push((s.anchor, page));
                }
            }
            for (pos, &(a_idx, page)) in slots.iter().enumerate() {
                let shown = t + pos as i64 * 200_000;
                let Some(session) = live.live_session(a_idx, shown) else {
                    continue;
                };
                let anchor = &world.anchors[a_idx as usize];
                out.exposures.ts.push(shown);
                out.exposures.user_id.push(user.id);
                out.exposures.anchor_id.push(anchor.id);
                out.exposures.live_id.push(session.live_id);
                out.exposures
                    .position
                    .push((rng.random::<f64>() >= 0.02).then_some(pos as i32 + 1));
                out.exposures.page.push(Some(page));
                self.maybe_watch(user, anchor, a_idx, session, state, shown, pos, rng, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn maybe_watch(
        &self,
        user: &User,
        anchor: &Anchor,
        a_idx: u32,
        session: &Session,
        state: &mut UserState,
        shown: i64,
        pos: usize,
        rng: &mut ChaCha8Rng,
        out: &mut Buffers,
    ) {
        let fit = (user.interests[anchor.category as usize] / user.max_interest) as f64;
        let known = state.strength(a_idx);
        let affinity =
            known.map(|(s, f)| (0.5 + s as f64 / 2.0).min(1.0) + if f { 0.3 } else { 0.0 });
        let click = (0.03
            + 0.22 * fit
            + 0.35 * affinity.unwrap_or(0.0).min(1.0)
            + 0.08 * (1.0 - anchor.rank_q))
            / (1.0 + 0.15 * pos as f64);
        if rng.random::<f64>() >= click {
            return;
        }
        let start = shown + rng.random_range(1..15) * MICROS;
        if start >= session.end {
            return;
        }
        let engaged_p = 0.12 + 0.5 * fit + 0.35 * affinity.unwrap_or(0.0).min(1.0);
        let wanted = if rng.random::<f64>() < engaged_p {
            self.engaged.sample(rng)
        } else if rng.random::<f64>() < 0.7 {
            rng.random_range(0.2..2.0)
        } else {
            rng.random_range(2.0..30.0)
        };
        // The room closes when the anchor goes offline.
        let available = (session.end - start) as f64 / MICROS as f64;
        let duration = (wanted.min(available) * 10.0).round() / 10.0;
        if duration < 0.1 {
            return;
        }
        out.watches.ts.push(start);
        out.watches.user_id.push(user.id);
        out.watches.anchor_id.push(anchor.id);
        out.watches.live_id.push(session.live_id);
        out.watches.duration_s.push(duration);

        let followed = known.is_some_and(|(_, f)| f);
        let mut follows = false;
        if duration >= 10.0 {
            let at = |rng: &mut ChaCha8Rng| {
                start + (rng.random::<f64>() * duration * MICROS as f64) as i64
            };
            let comments = Poisson::new((duration / 600.0) * (0.3 + fit))
                .map(|p| p.sample(rng) as usize)
                .unwrap_or(0)
                .min(20);
            let emit = |kind: &'static str, value: f64, rng: &mut ChaCha8Rng, out: &mut Buffers| {
                out.interactions.ts.push(at(rng));
                out.interactions.user_id.push(user.id);
                out.interactions.anchor_id.push(anchor.id);
                out.interactions.live_id.push(Some(session.live_id));
                out.interactions.kind.push(Some(kind));
                out.interactions.value.push(value);
            };
            for _ in 0..comments {
                emit("comment", 1.0, rng, out);
            }
            if duration >= 30.0 && rng.random::<f64>() < 0.3 {
                emit("like", 1.0, rng, out);
            }
            if duration >= 30.0 && rng.random::<f64>() < 0.01 {
                emit("share", 1.0, rng, out);
            }
            if !followed && duration >= 60.0 && rng.random::<f64>() < 0.12 {
                emit("follow", 1.0, rng, out);
                follows = true;
            }
            let gift_p = 0.012 * user.spend * (duration / 300.0).min(3.0);
            if rng.random::<f64>() < gift_p {
                let coins = (self.gift_value.sample(rng) * 10.0).round().min(100_000.0);
                emit("gift", coins, rng, out);
            }
        }
        if duration >= 30.0 || follows {
            state.reinforce(a_idx, (duration / 300.0).min(3.0) as f32, follows);
        }
    }
}
