//! The logged-in member behind a request, from the session cookie.

use ausweis::account::{self, Account};
use ausweis::secret::Secret;
use ausweis::session::{self, Lifetimes, Session};
use ausweis::username::Username;
use ausweis::{Error, Result};

use crate::{cookie, Env, Request};

/// A live session and the account it belongs to.
#[derive(Debug)]
pub struct Member {
    /// The session.
    pub session: Session,
    /// The session's key in the store (not the cookie value).
    pub key: String,
    /// The account.
    pub account: Account,
}

/// The live session of the request, if any (its idle expiry is pushed
/// forward as on every use).
pub fn session(req: &Request, env: &Env) -> Result<Option<(Session, String)>> {
    let Some(id) = cookie::session_id(req) else {
        return Ok(None);
    };
    let id = Secret::new(id);
    let life = Lifetimes::from_vars(env.vars)?;
    Ok(session::lookup(env.kv, &life, &id, env.now)?.map(|(s, _)| (s, session::key(&id))))
}

/// The logged-in member, or [`Error::NotAuthenticated`]. A session whose
/// account is gone counts as none.
pub fn member(req: &Request, env: &Env) -> Result<Member> {
    let (session, key) = session(req, env)?.ok_or(Error::NotAuthenticated)?;
    let name = Username::parse(&session.username).map_err(|_| Error::NotAuthenticated)?;
    let account = account::find(env.kv, &name)?
        .filter(|a| a.id == session.account_id)
        .ok_or(Error::NotAuthenticated)?;
    Ok(Member {
        session,
        key,
        account,
    })
}

/// Refuses a state-changing request that a page of another site sent
/// (see [`cookie::same_origin`]); JSON bodies and the `SameSite=Lax`
/// cookie already stop most, this is the second line.
pub fn same_origin(req: &Request, env: &Env) -> Result<()> {
    let issuer = env.vars.get("issuer");
    if cookie::same_origin(req, issuer.as_deref()) {
        Ok(())
    } else {
        Err(Error::CrossSite)
    }
}
