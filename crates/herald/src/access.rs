//! Which client addresses may use an account: its `allowed_ips` (networks or single addresses).
//! An account without any may be used from anywhere.
//!
//! Both APIs ask the same question after authenticating: the plain-text API answers `ERROR 103`,
//! the JSON API 403. The client address is the one [`crate::http::client::ClientIp`] found (the
//! socket peer, or what trusted proxies forwarded).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::config::AccountConfig;
use crate::store::Account;

/// The configured allow-lists, by username.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowLists {
    by_username: HashMap<String, Vec<IpNet>>,
}

/// The account may not be used from this address (or the address is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the account may not be used from this address")]
pub struct SourceNotAllowed;

impl AllowLists {
    pub fn from_config(accounts: &[AccountConfig]) -> Self {
        Self {
            by_username: accounts
                .iter()
                .filter(|a| !a.allowed_ips.is_empty())
                .map(|a| (a.username.clone(), a.allowed_ips.clone()))
                .collect(),
        }
    }

    /// Whether `account` may be used by `client`. An account with an allow-list refuses a
    /// client whose address is unknown.
    pub fn check(&self, account: &Account, client: Option<IpAddr>) -> Result<(), SourceNotAllowed> {
        let Some(allowed) = self.by_username.get(&account.record.username) else {
            return Ok(());
        };
        match client.map(|ip| ip.to_canonical()) {
            Some(ip) if allowed.iter().any(|n| n.contains(&ip)) => Ok(()),
            _ => Err(SourceNotAllowed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AccountRecord;

    fn account(username: &str) -> Account {
        Account {
            id: 1,
            record: AccountRecord {
                username: username.into(),
                password_hash: String::new(),
                balance: "0".into(),
                senders: Vec::new(),
                dlr_url: None,
            },
        }
    }

    fn lists(allowed: &[&str]) -> AllowLists {
        AllowLists::from_config(&[AccountConfig {
            username: "shop".into(),
            password: "pw".into(),
            balance: "0".into(),
            senders: Vec::new(),
            dlr_url: String::new(),
            allowed_ips: allowed.iter().map(|n| n.parse().unwrap()).collect(),
            webhook_secret: None,
        }])
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_account_with_an_allow_list_opens_only_from_its_networks() {
        let l = lists(&["203.0.113.0/24", "2001:db8::/32"]);
        let shop = account("shop");
        assert_eq!(l.check(&shop, ip("203.0.113.200")), Ok(()));
        assert_eq!(l.check(&shop, ip("2001:db8:ffff::1")), Ok(()));
        assert_eq!(l.check(&shop, ip("::ffff:203.0.113.9")), Ok(()));
        assert_eq!(l.check(&shop, ip("198.51.100.1")), Err(SourceNotAllowed));
        assert_eq!(l.check(&shop, ip("2001:db9::1")), Err(SourceNotAllowed));
        assert_eq!(l.check(&shop, None), Err(SourceNotAllowed));
    }

    #[test]
    fn an_account_without_an_allow_list_opens_from_anywhere() {
        let l = lists(&["203.0.113.0/24"]);
        assert_eq!(l.check(&account("other"), ip("198.51.100.1")), Ok(()));
        assert_eq!(l.check(&account("other"), None), Ok(()));
        assert_eq!(lists(&[]).check(&account("shop"), None), Ok(()));
    }
}
