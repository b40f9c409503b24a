//! `signet login --oidc`: a CI job signs in with its own identity token
//! (trusted publishing), with no stored secret. The token comes from GitHub
//! Actions' token service, `SIGNET_ID_TOKEN` (GitLab CI's `id_tokens:`), or
//! a file; the registry exchanges it for a short-lived publisher token, which
//! the commands that follow use. `signet publisher` sets the CI identities a
//! namespace trusts.

use std::path::Path;

use serde_json::json;

use super::config::{self, Credentials};
use super::listing::usage;
use super::{Client, Done, Exit, Failure};
use crate::api::{
    ExchangedToken, GrantType, IssuedTokenType, OIDC_TOKEN, PutPublisher, SubjectTokenType,
    TokenExchange, TrustedPublisher, TrustedPublisherList, WhoAmI, paths,
};
use crate::kinds::Role;
use crate::names::{Namespace, PublisherName};

/// Where the identity token was found.
enum Source {
    File,
    Environment,
    GithubActions,
}

/// The CI job's identity token for `audience`: from `file` when given, else
/// `SIGNET_ID_TOKEN`, else GitHub Actions' token service.
async fn identity_token(file: Option<&Path>, audience: &str) -> Result<(String, Source), Failure> {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::usage(format!("{}: {e}", path.display())))?;
        return Ok((text.trim().to_owned(), Source::File));
    }
    if let Some(t) = env("SIGNET_ID_TOKEN") {
        return Ok((t.trim().to_owned(), Source::Environment));
    }
    let (Some(url), Some(bearer)) = (
        env("ACTIONS_ID_TOKEN_REQUEST_URL"),
        env("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Err(Failure::usage(
            "no identity token: run in GitHub Actions with `permissions: id-token: write`, set \
             SIGNET_ID_TOKEN (GitLab CI: id_tokens), or pass --id-token-file",
        ));
    };
    let mut url = url::Url::parse(&url)
        .map_err(|e| Failure::usage(format!("ACTIONS_ID_TOKEN_REQUEST_URL: {e}")))?;
    url.query_pairs_mut().append_pair("audience", audience);
    let failed = |e: String| Failure::new(Exit::Failure, format!("GitHub's token service: {e}"));
    let resp = reqwest::Client::new()
        .get(url)
        .bearer_auth(bearer)
        .send()
        .await
        .map_err(|e| failed(e.without_url().to_string()))?;
    if !resp.status().is_success() {
        return Err(failed(format!("answered {}", resp.status())));
    }
    let body: serde_json::Value = resp.json().await.map_err(|e| failed(e.to_string()))?;
    let token = body["value"]
        .as_str()
        .ok_or_else(|| failed("the answer holds no token".into()))?;
    Ok((token.to_owned(), Source::GithubActions))
}

/// `signet login --oidc --server URL [--audience A] [--id-token-file F]
/// [--publisher NS/NAME]`: exchanges the job's identity token and saves the
/// publisher token it gets (mode 0600) for the commands that follow.
pub async fn login(
    server: &str,
    audience: &str,
    file: Option<&Path>,
    publisher: Option<&str>,
) -> Result<Done, Failure> {
    let server = super::commands::server_url(server)?;
    let (subject_token, source) = identity_token(file, audience).await?;
    let form = TokenExchange {
        grant_type: GrantType::TokenExchange,
        subject_token,
        subject_token_type: SubjectTokenType::Jwt,
        requested_token_type: Some(IssuedTokenType::AccessToken),
        scope: publisher.map(|p| format!("publisher:{p}")),
    };
    let got: ExchangedToken = Client::new(&server, "")?
        .post_form(OIDC_TOKEN, &form)
        .await?;
    let who: WhoAmI = Client::new(&server, &got.access_token)?
        .get(paths::WHOAMI)
        .await?;
    let path = config::save(&Credentials {
        server: server.clone(),
        token: got.access_token,
    })?;
    let from = match source {
        Source::File => "the identity token file",
        Source::Environment => "SIGNET_ID_TOKEN",
        Source::GithubActions => "GitHub Actions",
    };
    Ok(Done {
        human: format!(
            "signed in to {server} as {} with {from}'s identity, for {} s (credentials in {})",
            who.principal,
            got.expires_in,
            path.display()
        ),
        json: json!({
            "server": server,
            "principal": who.principal,
            "expires_in": got.expires_in,
            "scope": got.scope,
            "credentials": path,
        }),
    })
}

/// `NAMESPACE/NAME` of a publisher, as its path under the namespace.
fn publisher_path(publisher: &str) -> Result<String, Failure> {
    let (ns, name) = publisher
        .split_once('/')
        .ok_or_else(|| Failure::usage("PUBLISHER is NAMESPACE/NAME"))?;
    let (ns, name) = (
        Namespace::parse(ns).map_err(usage("PUBLISHER"))?,
        PublisherName::parse(name).map_err(usage("PUBLISHER"))?,
    );
    Ok(format!(
        "{}/{ns}/trusted-publishers/{name}",
        paths::NAMESPACES
    ))
}

fn shown(p: &TrustedPublisher) -> String {
    let claims: Vec<String> = p.claims.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let roles: Vec<&str> = p.roles.iter().map(|r| r.as_str()).collect();
    format!(
        "{}/{}  {}  {}  roles: {}{}",
        p.namespace,
        p.name,
        p.issuer,
        claims.join(" "),
        roles.join(", "),
        if p.bind_commit {
            ""
        } else {
            "  (commit not bound)"
        }
    )
}

/// `signet publisher set NS/NAME --issuer URL --claim K=V… [--role R…]
/// [--no-bind-commit]`.
pub async fn publisher_set(
    publisher: &str,
    issuer: &str,
    claims: &[String],
    roles: &[String],
    bind_commit: bool,
) -> Result<Done, Failure> {
    let path = publisher_path(publisher)?;
    let claims = claims
        .iter()
        .map(|c| {
            c.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| Failure::usage(format!("--claim {c:?} is not NAME=VALUE")))
        })
        .collect::<Result<_, _>>()?;
    let roles = match roles.is_empty() {
        true => vec![Role::Publisher],
        false => roles
            .iter()
            .map(|r| Role::parse(r).map_err(usage("--role")))
            .collect::<Result<_, _>>()?,
    };
    let body = PutPublisher {
        issuer: issuer.to_owned(),
        claims,
        roles,
        bind_commit: Some(bind_commit),
    };
    let p: TrustedPublisher = super::commands::signed_in()?
        .exchange(reqwest::Method::PUT, &path, Some(&body))
        .await?;
    Ok(Done {
        human: format!(
            "trusted publisher {}; its jobs sign in as {}",
            shown(&p),
            p.principal
        ),
        json: serde_json::to_value(&p).unwrap_or_default(),
    })
}

/// `signet publisher list NS`.
pub async fn publisher_list(ns: &str) -> Result<Done, Failure> {
    let ns = Namespace::parse(ns).map_err(usage("NAMESPACE"))?;
    let list: TrustedPublisherList = super::commands::signed_in()?
        .get(&format!("{}/{ns}/trusted-publishers", paths::NAMESPACES))
        .await?;
    let lines: Vec<String> = list.items.iter().map(shown).collect();
    Ok(Done {
        human: match lines.is_empty() {
            true => format!("{ns} trusts no CI identity"),
            false => lines.join("\n"),
        },
        json: serde_json::to_value(&list).unwrap_or_default(),
    })
}

/// `signet publisher remove NS/NAME`.
pub async fn publisher_remove(publisher: &str) -> Result<Done, Failure> {
    let path = publisher_path(publisher)?;
    super::commands::signed_in()?
        .exchange::<(), ()>(reqwest::Method::DELETE, &path, None)
        .await?;
    Ok(Done {
        human: format!("{publisher} is no longer trusted; its tokens stopped"),
        json: json!({"publisher": publisher, "removed": true}),
    })
}
