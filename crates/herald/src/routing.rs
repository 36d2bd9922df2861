//! Which carrier serves a destination, and at what price: the longest configured prefix of its
//! E.164 digits wins, and `""` matches every number.

use crate::config::RouteConfig;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// E.164 digits without `+`.
    pub prefix: String,
    pub carrier: String,
    /// Price per segment, decimal string.
    pub price: String,
}

impl From<RouteConfig> for Route {
    fn from(r: RouteConfig) -> Self {
        Self {
            prefix: r.prefix,
            carrier: r.carrier,
            price: r.price,
        }
    }
}

/// The route table. Routes are kept sorted longest prefix first, so the first match is the
/// answer; a few hundred routes scan faster than any trie would pay back.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    routes: Vec<Route>,
}

impl Routes {
    pub fn new(mut routes: Vec<Route>) -> Self {
        // Stable sort: among equal prefixes (which config validation refuses) the first wins.
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Self { routes }
    }

    pub fn from_config(routes: &[RouteConfig]) -> Self {
        Self::new(routes.iter().cloned().map(Route::from).collect())
    }

    /// The route for `digits` (E.164 without `+`), if any serves it.
    pub fn route(&self, digits: &str) -> Option<&Route> {
        self.routes.iter().find(|r| digits.starts_with(&r.prefix))
    }

    /// Every route, longest prefix first.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.routes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(prefix: &str, carrier: &str) -> Route {
        Route {
            prefix: prefix.into(),
            carrier: carrier.into(),
            price: "0.05".into(),
        }
    }

    #[test]
    fn the_longest_matching_prefix_wins_whatever_the_order() {
        let routes = Routes::new(vec![
            route("", "default"),
            route("3725", "mobile"),
            route("372", "estonia"),
        ]);
        assert_eq!(routes.route("37255555555").unwrap().carrier, "mobile");
        assert_eq!(routes.route("3726123456").unwrap().carrier, "estonia");
        assert_eq!(routes.route("4915112345").unwrap().carrier, "default");
    }

    #[test]
    fn without_a_catch_all_an_unserved_number_has_no_route() {
        let routes = Routes::new(vec![route("372", "estonia")]);
        assert_eq!(routes.route("4915112345"), None);
        assert_eq!(routes.route("37"), None);
        assert!(Routes::new(vec![]).route("372").is_none());
    }

    #[test]
    fn the_empty_prefix_matches_every_number() {
        let routes = Routes::new(vec![route("", "sim")]);
        assert_eq!(routes.route("1").unwrap().carrier, "sim");
    }
}
