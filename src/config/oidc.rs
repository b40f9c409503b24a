//! Trusted publishing's settings: which OpenID Connect issuers CI jobs'
//! identity tokens may come from, the audience they must name, and how long
//! the publisher tokens exchanged for them live.

use std::path::PathBuf;

use clap::Args;

#[derive(Clone, Args)]
pub struct OidcConfig {
    /// Identity providers whose tokens `POST /v1/oidc/token` accepts,
    /// separated by commas, each exactly as its tokens' `iss` reads (HTTPS
    /// only; a trailing slash counts): for GitHub Actions
    /// `https://token.actions.githubusercontent.com`, for GitLab.com
    /// `https://gitlab.com`. Empty: trusted publishing is off.
    #[arg(long = "oidc-issuers", env = "SIGNET_OIDC_ISSUERS", default_value = "",
        value_parser = parse_issuers)]
    pub issuers: Issuers,

    /// The audience identity tokens must name (`aud`).
    #[arg(
        long = "oidc-audience",
        env = "SIGNET_OIDC_AUDIENCE",
        default_value = "signet"
    )]
    pub audience: String,

    /// PEM certificates added to the platform's roots when fetching the
    /// issuers' discovery documents and keys (a private identity provider).
    #[arg(long = "oidc-ca-file", env = "SIGNET_OIDC_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// How long a publisher token lives, in seconds.
    #[arg(long = "oidc-token-ttl-secs", env = "SIGNET_OIDC_TOKEN_TTL_SECS", default_value_t = 900,
        value_parser = clap::value_parser!(u32).range(60..=3600))]
    pub token_ttl_secs: u32,
}

/// The accepted issuers, as configured.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Issuers(pub Vec<String>);

fn parse_issuers(s: &str) -> Result<Issuers, String> {
    let mut out = Vec::new();
    for issuer in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let url = url::Url::parse(issuer).map_err(|e| format!("{issuer:?}: {e}"))?;
        if url.scheme() != "https"
            || url.host().is_none()
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
        {
            return Err(format!(
                "{issuer:?}: an issuer is an https URL with no query, fragment or user"
            ));
        }
        out.push(issuer.to_owned());
    }
    Ok(Issuers(out))
}

impl Default for OidcConfig {
    fn default() -> Self {
        Self {
            issuers: Issuers::default(),
            audience: "signet".into(),
            ca_file: None,
            token_ttl_secs: 900,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuers_are_https_and_kept_exactly_as_written() {
        let got = parse_issuers(
            " https://token.actions.githubusercontent.com , https://gitlab.example.com/ ",
        )
        .unwrap();
        assert_eq!(
            got.0,
            [
                "https://token.actions.githubusercontent.com",
                "https://gitlab.example.com/"
            ]
        );
        assert_eq!(parse_issuers("").unwrap().0, Vec::<String>::new());
        for bad in [
            "http://gitlab.example.com",
            "https://u@gitlab.example.com",
            "https://gitlab.example.com/?x=1",
            "gitlab.example.com",
        ] {
            assert!(parse_issuers(bad).is_err(), "{bad}");
        }
    }
}
