//! Customer accounts: loading them from the operator's config (passwords hashed with argon2) and
//! checking the credentials of every API request.
//!
//! argon2 is deliberately slow (tens of milliseconds of CPU), so verifying it on every request
//! would cap the API at a few hundred requests per second. [`Authenticator`] therefore remembers
//! successful verifications in memory for a short time; failures are never remembered, so a wrong
//! password always pays the full argon2 price.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::config::AccountConfig;
use crate::store::{Account, AccountRecord, SharedStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "account {username:?}: the password looks like an argon2 hash but does not parse: {reason}"
    )]
    BadHash { username: String, reason: String },
    #[error("cannot hash the password of account {username:?}: {reason}")]
    Hashing { username: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The PHC string to store for a configured password: an `$argon2...` value is kept as is (after
/// checking it parses), anything else is hashed with a fresh salt.
pub fn hash_config_password(username: &str, password: &str) -> Result<String, AccountError> {
    if password.starts_with("$argon2") {
        let parsed = PasswordHash::new(password).map_err(|e| AccountError::BadHash {
            username: username.to_owned(),
            reason: e.to_string(),
        })?;
        // A PHC string without salt or hash output parses but can never verify anything.
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err(AccountError::BadHash {
                username: username.to_owned(),
                reason: "it has no salt or no hash".to_owned(),
            });
        }
        return Ok(password.to_owned());
    }
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AccountError::Hashing {
        username: username.to_owned(),
        reason: e.to_string(),
    })?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AccountError::Hashing {
            username: username.to_owned(),
            reason: e.to_string(),
        })
}

/// Writes the configured accounts to the store (the config is the source of truth at start),
/// each with its webhook secret.
pub async fn sync_accounts(
    store: &SharedStore,
    accounts: &[AccountConfig],
) -> Result<Vec<Account>, AccountError> {
    let mut out = Vec::with_capacity(accounts.len());
    for a in accounts {
        let (username, password) = (a.username.clone(), a.password.clone());
        let password_hash =
            tokio::task::spawn_blocking(move || hash_config_password(&username, &password))
                .await
                .map_err(|e| AccountError::Hashing {
                    username: a.username.clone(),
                    reason: e.to_string(),
                })??;
        let record = AccountRecord {
            username: a.username.clone(),
            password_hash,
            balance: a.balance.clone(),
            senders: a.senders.clone(),
            dlr_url: (!a.dlr_url.is_empty()).then(|| a.dlr_url.clone()),
        };
        let account = store.upsert_account(record).await?;
        // A configured secret replaces the kept one; without one the account's own (generated
        // now if it has none yet) stays, so customers keep verifying with the same.
        match &a.webhook_secret {
            Some(secret) => store.set_webhook_secret(account.id, secret).await?,
            None => drop(store.webhook_secret(account.id).await?),
        }
        out.push(account);
    }
    Ok(out)
}

/// Checks `password` against a PHC string. Malformed hashes never match.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// One digest of the username and the password: a lookup (every API request) allocates nothing.
type CacheKey = [u8; 32];

/// A fast digest is enough here: the entry exists only after argon2 accepted the password, and
/// the digest is never stored or sent anywhere. The username's length goes first, so no two
/// (username, password) pairs feed the digest the same bytes.
fn cache_key(username: &str, password: &str) -> CacheKey {
    use sha2::Digest;
    let mut digest = sha2::Sha256::new();
    digest.update((username.len() as u64).to_le_bytes());
    digest.update(username.as_bytes());
    digest.update(password.as_bytes());
    digest.finalize().into()
}

/// Verifies API credentials against the store, remembering recent successes.
pub struct Authenticator {
    store: SharedStore,
    /// Keyed by a digest of username and password, so the process never holds API passwords in
    /// a table a memory dump would show. Accounts are shared, not cloned, on every request.
    cache: Mutex<HashMap<CacheKey, (Arc<Account>, Instant)>>,
    capacity: usize,
    ttl: Duration,
    /// Verified against when the username is unknown, so an unknown user takes as long as a
    /// wrong password and usernames cannot be discovered by timing.
    decoy_hash: String,
    /// argon2 takes ~19 MiB and tens of milliseconds per check: a burst of new clients must
    /// queue here instead of running hundreds at once (and the first to finish fills the cache
    /// for the rest).
    hashing: tokio::sync::Semaphore,
}

impl Authenticator {
    /// Remembers up to 1024 successful logins for 60 seconds each.
    pub fn new(store: SharedStore) -> Self {
        Self::with_cache(store, 1024, Duration::from_secs(60))
    }

    /// `ttl` bounds how long a changed password or account keeps working from the cache.
    pub fn with_cache(store: SharedStore, capacity: usize, ttl: Duration) -> Self {
        let decoy_hash = hash_config_password("", "decoy password never matched")
            .expect("argon2 hashes a constant password");
        Self {
            store,
            cache: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            ttl,
            decoy_hash,
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// The account these credentials open, or `None` when they are wrong.
    pub async fn verify(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Arc<Account>>, StoreError> {
        let key = cache_key(username, password);
        if let Some(account) = self.cached(&key) {
            return Ok(Some(account));
        }
        let _permit = self.hashing.acquire().await.expect("never closed");
        if let Some(account) = self.cached(&key) {
            return Ok(Some(account));
        }
        let account = self.store.account_by_username(username).await?;
        let phc = account
            .as_ref()
            .map(|a| a.record.password_hash.clone())
            .unwrap_or_else(|| self.decoy_hash.clone());
        let pw = password.to_owned();
        // argon2 would stall an async worker thread for its whole run.
        let ok = tokio::task::spawn_blocking(move || verify_password(&pw, &phc))
            .await
            .unwrap_or(false);
        match account {
            Some(account) if ok => {
                let account = Arc::new(account);
                self.remember(key, account.clone());
                Ok(Some(account))
            }
            _ => Ok(None),
        }
    }

    fn cached(&self, key: &CacheKey) -> Option<Arc<Account>> {
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(account, _)| account.clone())
    }

    fn remember(&self, key: CacheKey, account: Arc<Account>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= self.capacity && !cache.contains_key(&key) {
            cache.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if cache.len() >= self.capacity {
                let oldest = cache.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| *k);
                if let Some(oldest) = oldest {
                    cache.remove(&oldest);
                }
            }
        }
        cache.insert(key, (account, Instant::now()));
    }

    #[cfg(test)]
    fn cached_len(&self) -> usize {
        self.cache.lock().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::test_support::MemoryStore;

    async fn store_with(username: &str, password: &str) -> Arc<MemoryStore> {
        let store = Arc::new(MemoryStore::default());
        let shared: SharedStore = store.clone();
        sync_accounts(&shared, &[account(username, password)])
            .await
            .unwrap();
        store
    }

    fn account(username: &str, password: &str) -> AccountConfig {
        AccountConfig {
            username: username.into(),
            password: password.into(),
            balance: "1.00".into(),
            senders: vec!["Herald".into()],
            dlr_url: String::new(),
            allowed_ips: Vec::new(),
            webhook_secret: None,
        }
    }

    #[test]
    fn a_plain_password_is_hashed_and_verifies() {
        let phc = hash_config_password("demo", "s3cret").unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &phc));
        assert!(!verify_password("S3cret", &phc));
    }

    #[test]
    fn an_argon2_hash_in_the_config_is_kept_as_is() {
        let phc = hash_config_password("demo", "s3cret").unwrap();
        assert_eq!(hash_config_password("demo", &phc).unwrap(), phc);
        assert!(matches!(
            hash_config_password("demo", "$argon2id$garbage"),
            Err(AccountError::BadHash { .. })
        ));
    }

    #[tokio::test]
    async fn configured_accounts_are_stored_with_hashed_passwords() {
        let store = store_with("demo", "s3cret").await;
        let stored = store.account_by_username("demo").await.unwrap().unwrap();
        assert_ne!(stored.record.password_hash, "s3cret");
        assert_eq!(stored.record.dlr_url, None);
    }

    #[tokio::test]
    async fn right_credentials_open_the_account_and_wrong_ones_do_not() {
        let store = store_with("demo", "s3cret").await;
        let auth = Authenticator::new(store);
        assert_eq!(
            auth.verify("demo", "s3cret")
                .await
                .unwrap()
                .unwrap()
                .record
                .username,
            "demo"
        );
        assert!(auth.verify("demo", "wrong").await.unwrap().is_none());
        assert!(auth.verify("nobody", "s3cret").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_verified_login_is_served_from_the_cache_and_failures_are_not_cached() {
        let store = store_with("demo", "s3cret").await;
        let auth = Authenticator::new(store.clone());
        auth.verify("demo", "s3cret").await.unwrap().unwrap();
        auth.verify("demo", "wrong").await.unwrap();
        assert_eq!(auth.cached_len(), 1);
        // With the account gone from the store, only the cache can still answer.
        store.remove_account("demo");
        assert!(auth.verify("demo", "s3cret").await.unwrap().is_some());
        assert!(auth.verify("demo", "wrong").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_cache_forgets_after_its_ttl_and_stays_within_capacity() {
        let store = store_with("demo", "s3cret").await;
        let auth = Authenticator::with_cache(store.clone(), 1, Duration::from_millis(0));
        auth.verify("demo", "s3cret").await.unwrap().unwrap();
        store.remove_account("demo");
        assert!(auth.verify("demo", "s3cret").await.unwrap().is_none());

        let store = store_with("demo", "s3cret").await;
        let shared: SharedStore = store.clone();
        sync_accounts(&shared, &[account("other", "pw2")])
            .await
            .unwrap();
        let auth = Authenticator::with_cache(store, 1, Duration::from_secs(60));
        auth.verify("demo", "s3cret").await.unwrap().unwrap();
        auth.verify("other", "pw2").await.unwrap().unwrap();
        assert_eq!(auth.cached_len(), 1);
    }
}
