//! How each value of this module is described in the OpenAPI document: the rule
//! its parser applies, written from the same constants (so a field or a
//! parameter of one of these types states its rule wherever it appears).

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use super::*;

/// A string schema with this pattern.
pub fn string_schema(pattern: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
}

/// Implements `PartialSchema` and `ToSchema` (under `name`) from a builder.
macro_rules! described {
    ($ty:ty, $name:literal, $schema:expr) => {
        impl ::utoipa::PartialSchema for $ty {
            fn schema() -> ::utoipa::openapi::RefOr<::utoipa::openapi::schema::Schema> {
                let b: ::utoipa::openapi::schema::ObjectBuilder = $schema;
                ::utoipa::openapi::RefOr::T(::utoipa::openapi::schema::Schema::Object(b.build()))
            }
        }

        impl ::utoipa::ToSchema for $ty {
            fn name() -> ::std::borrow::Cow<'static, str> {
                ::std::borrow::Cow::Borrowed($name)
            }
        }
    };
}
pub(crate) use described;

fn named(what: &str) -> ObjectBuilder {
    string_schema(NAME_PATTERN).description(Some(format!(
        "{what}: lower-case letters, digits, `.`, `_` and `-`, starting with a letter or digit, at most 63"
    )))
}

described!(Namespace, "Namespace", named("A namespace"));
described!(ModelName, "ModelName", named("A model's name"));
described!(AliasName, "AliasName", named("An alias"));
described!(
    PublisherName,
    "PublisherName",
    named("A trusted publisher's name")
);
described!(
    ModelRef,
    "ModelRef",
    string_schema(MODEL_REF_PATTERN).description(Some("`namespace/model`"))
);
described!(
    PrincipalName,
    "PrincipalName",
    string_schema(PRINCIPAL_PATTERN).description(Some(
        "A principal: 1 to 128 characters of `[A-Za-z0-9._@+-]`"
    ))
);
described!(
    Sha256,
    "Sha256",
    string_schema(HEX64_PATTERN).description(Some("A SHA-256 digest, 64 hex digits"))
);
described!(
    KeyId,
    "KeyId",
    string_schema(HEX64_PATTERN).description(Some(
        "A key id: the SHA-256 of the key's SPKI PEM, 64 hex digits"
    ))
);
described!(
    CommitId,
    "CommitId",
    string_schema(COMMIT_PATTERN).description(Some("A git commit id, 40 or 64 hex digits"))
);
described!(
    FilePath,
    "FilePath",
    string_schema(FILE_PATH_PATTERN)
        .min_length(Some(1))
        .max_length(Some(FilePath::MAX_LEN))
        .description(Some(
            "A relative POSIX path inside a version; may contain `/`"
        ))
);
described!(
    NewFilePath,
    "NewFilePath",
    string_schema(PORTABLE_PATH_PATTERN)
        .min_length(Some(1))
        .max_length(Some(FilePath::MAX_LEN))
        .description(Some(
            "A relative POSIX path for a new file: also portable to Windows (no segment ending in a dot, no device name)"
        ))
);
described!(
    VersionNumber,
    "VersionNumber",
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
);

impl<const MAX: usize, const MIN: usize> PartialSchema for Text<MAX, MIN> {
    fn schema() -> RefOr<Schema> {
        let b = string_schema(NO_NUL_PATTERN)
            .min_length(Some(MIN))
            .max_length(Some(MAX));
        RefOr::T(Schema::Object(b.build()))
    }
}

impl<const MAX: usize, const MIN: usize> ToSchema for Text<MAX, MIN> {
    /// The aliases' names, so that each length rule is one schema.
    fn name() -> Cow<'static, str> {
        match (MAX, MIN) {
            (4096, 0) => "Description".into(),
            (1024, 0) => "Reason".into(),
            (1024, 1) => "RequiredReason".into(),
            (200, 1) => "KeyName".into(),
            (4096, 1) => "PublicKeyText".into(),
            _ if MIN == 0 => format!("Text{MAX}").into(),
            _ => format!("Text{MIN}To{MAX}").into(),
        }
    }
}

/// The path of a file a request creates: a [`FilePath`] every client can also
/// write on Windows ([`FilePath::check_portable`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewFilePath(FilePath);

impl NewFilePath {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let path = FilePath::parse(s)?;
        path.check_portable()?;
        Ok(Self(path))
    }

    pub fn as_path(&self) -> &FilePath {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

text_value!(NewFilePath, as_str);
