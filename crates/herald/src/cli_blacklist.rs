//! `herald blacklist add|remove|list`: the blacklists (err 008), managed on the database of a
//! configuration. A running gateway sees a change with the next message it accepts.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::clock::now_millis;
use crate::config::Config;
use crate::number::Destination;
use crate::store::{BlacklistScope, Store};

#[derive(Debug, Args)]
pub struct BlacklistArgs {
    #[command(subcommand)]
    pub action: BlacklistAction,
    /// The configuration whose database to use; without it, the embedded defaults' herald.db.
    #[arg(long, global = true, env = "HERALD_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BlacklistAction {
    /// Put a number on the global blacklist, or on one account's with --account.
    Add {
        #[arg(long)]
        account: Option<String>,
        /// International format, with or without +.
        number: String,
    },
    /// Take a number off the global blacklist, or off one account's with --account.
    Remove {
        #[arg(long)]
        account: Option<String>,
        number: String,
    },
    /// Print the global blacklist, or one account's with --account, one number a line.
    List {
        #[arg(long)]
        account: Option<String>,
    },
}

/// Runs the command; returns what to print.
pub async fn run(args: BlacklistArgs) -> anyhow::Result<String> {
    let (config, _) = Config::load(args.config.as_deref())?;
    let store = crate::app::open_store(&config.database.url).await?;
    let (account, number) = match &args.action {
        BlacklistAction::Add { account, number } | BlacklistAction::Remove { account, number } => {
            (account, Some(number))
        }
        BlacklistAction::List { account } => (account, None),
    };
    let (scope, whose) = match account {
        None => (BlacklistScope::Global, "the global blacklist".to_owned()),
        Some(username) => {
            let account = store
                .account_by_username(username)
                .await?
                .with_context(|| {
                    format!(
                        "no account {username:?} in {}: accounts are loaded from the \
                         configuration when `herald serve` starts",
                        config.database.url
                    )
                })?;
            (
                BlacklistScope::Account(account.id),
                format!("the blacklist of account {username}"),
            )
        }
    };
    let number = number
        .map(|raw| {
            Destination::parse(raw).with_context(|| format!("{raw:?} is not a phone number"))
        })
        .transpose()?;
    Ok(match (&args.action, number) {
        (BlacklistAction::Add { .. }, Some(number)) => {
            if store
                .blacklist_add(scope, number.digits(), now_millis())
                .await?
            {
                format!("{number} added to {whose}")
            } else {
                format!("{number} was already on {whose}")
            }
        }
        (BlacklistAction::Remove { .. }, Some(number)) => {
            if store.blacklist_remove(scope, number.digits()).await? {
                format!("{number} removed from {whose}")
            } else {
                format!("{number} was not on {whose}")
            }
        }
        _ => store
            .blacklist(scope)
            .await?
            .iter()
            .map(|digits| format!("+{digits}"))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}
