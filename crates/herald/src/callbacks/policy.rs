//! When a failed callback is tried again: the operator's schedule, each delay jittered by ±20 %
//! so that callbacks that failed together (a customer's endpoint was down) do not all come back
//! in the same second.

use std::time::Duration;

use rand::Rng;

use crate::store::{CallbackNext, Millis};

/// How far each delay may move, as a fraction of it.
pub const JITTER: f64 = 0.2;

#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    schedule: Vec<Duration>,
}

impl RetryPolicy {
    /// `schedule[i]` is the delay after the `i+1`-th failed attempt; after the last one the
    /// callback is exhausted. An empty schedule means a single attempt.
    pub fn new(schedule: Vec<Duration>) -> Self {
        Self { schedule }
    }

    /// How many attempts a callback gets in all.
    pub fn max_attempts(&self) -> usize {
        self.schedule.len() + 1
    }

    /// The delay after `failed_attempts` failures, moved by `jitter` (in [-1, 1], scaled to
    /// ±20 %); `None` once the schedule is spent.
    pub fn delay(&self, failed_attempts: u32, jitter: f64) -> Option<Duration> {
        let base = *self
            .schedule
            .get((failed_attempts as usize).checked_sub(1)?)?;
        let factor = 1.0 + JITTER * jitter.clamp(-1.0, 1.0);
        Some(base.mul_f64(factor))
    }

    /// What follows a failed attempt, given how many attempts had been made before it.
    pub fn after_failure(
        &self,
        attempts_before: u32,
        now: Millis,
        rng: &mut impl Rng,
    ) -> CallbackNext {
        match self.delay(attempts_before + 1, rng.random_range(-1.0..=1.0)) {
            Some(d) => CallbackNext::RetryAt(now.saturating_add(d.as_millis() as Millis)),
            None => CallbackNext::Exhausted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn each_failure_waits_the_next_step_of_the_schedule() {
        let p = RetryPolicy::new(vec![ms(10), ms(60), ms(300)]);
        assert_eq!(p.delay(1, 0.0), Some(ms(10)));
        assert_eq!(p.delay(2, 0.0), Some(ms(60)));
        assert_eq!(p.delay(3, 0.0), Some(ms(300)));
        assert_eq!(p.max_attempts(), 4);
    }

    #[test]
    fn the_callback_is_exhausted_after_the_last_step() {
        let p = RetryPolicy::new(vec![ms(10), ms(60)]);
        let mut rng = StdRng::seed_from_u64(1);
        assert!(matches!(
            p.after_failure(1, 0, &mut rng),
            CallbackNext::RetryAt(_)
        ));
        assert_eq!(p.after_failure(2, 0, &mut rng), CallbackNext::Exhausted);
        assert_eq!(
            RetryPolicy::new(vec![]).after_failure(0, 0, &mut rng),
            CallbackNext::Exhausted
        );
    }

    #[test]
    fn jitter_moves_a_delay_by_at_most_twenty_percent() {
        let p = RetryPolicy::new(vec![ms(1000)]);
        assert_eq!(p.delay(1, 1.0), Some(ms(1200)));
        assert_eq!(p.delay(1, -1.0), Some(ms(800)));
        assert_eq!(p.delay(1, 7.0), Some(ms(1200)));
    }

    #[test]
    fn retries_land_within_the_jitter_band_and_spread_out() {
        let p = RetryPolicy::new(vec![ms(10_000)]);
        let mut rng = StdRng::seed_from_u64(7);
        let times: Vec<Millis> = (0..200)
            .map(|_| match p.after_failure(0, 1_000, &mut rng) {
                CallbackNext::RetryAt(t) => t,
                other => panic!("expected a retry, got {other:?}"),
            })
            .collect();
        assert!(
            times.iter().all(|&t| (9_000..=13_000).contains(&t)),
            "{times:?}"
        );
        let distinct: std::collections::HashSet<_> = times.iter().collect();
        assert!(distinct.len() > 50, "jitter should spread retries");
    }
}
