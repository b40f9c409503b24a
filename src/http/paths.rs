//! Path extractors: each parses its segments by their types' own rules, and
//! states them in the OpenAPI document from the same types (`IntoParams`), so a
//! route's parameters are documented by the extractor its handler takes.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{RefOr, Required};
use utoipa::{IntoParams, PartialSchema};
use uuid::Uuid;

use super::error::ApiError;
use crate::error::Error;
use crate::kinds::BindingScope;
use crate::names::{
    AliasName, CommitId, FilePath, KeyId, ModelName, ModelRef, Namespace, NewFilePath,
    PrincipalName, PublisherName, Sha256, VersionNumber,
};
use crate::tlog::tile::Tile;

/// A value of one path segment, parsed and described by its type's rule.
trait Segment: Sized {
    fn from_segment(s: &str) -> Result<Self, ApiError>;
    fn schema() -> RefOr<Schema>;
}

macro_rules! segments {
    ($($ty:ty),+) => {
        $(impl Segment for $ty {
            fn from_segment(s: &str) -> Result<Self, ApiError> {
                Ok(<$ty>::parse(s).map_err(Error::from)?)
            }

            fn schema() -> RefOr<Schema> {
                <$ty as PartialSchema>::schema()
            }
        })+
    };
}

segments!(
    Namespace,
    ModelName,
    AliasName,
    VersionNumber,
    KeyId,
    FilePath,
    NewFilePath,
    Sha256,
    CommitId,
    PrincipalName,
    PublisherName,
    BindingScope
);

impl Segment for Uuid {
    fn from_segment(s: &str) -> Result<Self, ApiError> {
        Uuid::try_parse(s).map_err(|_| ApiError::invalid("an id is a UUID"))
    }

    fn schema() -> RefOr<Schema> {
        let b = ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)));
        RefOr::T(Schema::Object(b.build()))
    }
}

/// A path that names no tile of the transparency log names nothing there
/// (404).
fn no_tile(shown: &str) -> ApiError {
    ApiError::from(Error::Missing(format!(
        "tile {shown} (tiles are named as C2SP tlog-tiles says: <L>/<N>[.p/<W>], \
         entries/<N>[.p/<W>])"
    )))
}

/// A tile's index and width, as tlog-tiles spells them.
const TILE_INDEX: &str =
    "(x[0-9]{3}/)*[0-9]{3}(\\.p/([1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5]))?$";

fn tile_schema(level: &str) -> RefOr<Schema> {
    let b = ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!("^{level}{TILE_INDEX}")));
    RefOr::T(Schema::Object(b.build()))
}

/// A hash tile of the transparency log: `<L>/<N>[.p/<W>]`.
pub struct HashTile(pub Tile);

impl Segment for HashTile {
    fn from_segment(s: &str) -> Result<Self, ApiError> {
        Tile::parse(s)
            .filter(|t| t.level.is_some())
            .map(Self)
            .ok_or_else(|| no_tile(s))
    }

    fn schema() -> RefOr<Schema> {
        tile_schema("[0-7]/")
    }
}

/// An entry bundle of the transparency log: `<N>[.p/<W>]` after `entries/`.
pub struct EntryBundle(pub Tile);

impl Segment for EntryBundle {
    fn from_segment(s: &str) -> Result<Self, ApiError> {
        let path = format!("entries/{s}");
        Tile::parse(&path).map(Self).ok_or_else(|| no_tile(&path))
    }

    fn schema() -> RefOr<Schema> {
        tile_schema("")
    }
}

/// An access log event's sequence number (from 1).
pub struct EventSeq(pub u64);

impl Segment for EventSeq {
    fn from_segment(s: &str) -> Result<Self, ApiError> {
        s.parse::<i64>()
            .ok()
            .filter(|&n| n >= 1)
            .map(|n| Self(n as u64))
            .ok_or_else(|| ApiError::invalid("an event's sequence number is an integer from 1"))
    }

    fn schema() -> RefOr<Schema> {
        let b = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            .minimum(Some(1));
        RefOr::T(Schema::Object(b.build()))
    }
}

/// The path's segments by name.
struct Segments(HashMap<String, String>);

impl Segments {
    async fn of<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map(|Path(m)| Self(m))
            .map_err(|_| ApiError::invalid("invalid path"))
    }

    fn raw(&self, name: &str) -> Result<&str, ApiError> {
        self.0
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::invalid("invalid path"))
    }

    fn get<T: Segment>(&self, name: &str) -> Result<T, ApiError> {
        T::from_segment(self.raw(name)?)
    }

    fn model(&self) -> Result<ModelRef, ApiError> {
        Ok(ModelRef {
            namespace: self.get("ns")?,
            name: self.get("model")?,
        })
    }
}

/// One path parameter, described by its type's schema.
fn param<T: Segment>(name: &str) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(T::schema()))
        .build()
}

/// Declares a path extractor: its segments (name and type, in path order, which
/// the document lists) and how they make the extractor.
macro_rules! path_extractor {
    ($(#[$doc:meta])* $ty:ident($($field:ty),+) { $($name:literal: $seg:ty),+ }
        |$s:ident| $build:expr) => {
        $(#[$doc])*
        pub struct $ty($(pub $field),+);

        impl<S: Send + Sync> FromRequestParts<S> for $ty {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
                let $s = Segments::of(parts, state).await?;
                $build
            }
        }

        impl IntoParams for $ty {
            fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
                vec![$(param::<$seg>($name)),+]
            }
        }
    };
}

path_extractor!(
    /// `{ns}` in the path.
    NsPath(Namespace) { "ns": Namespace }
    |s| Ok(Self(s.get("ns")?))
);

path_extractor!(
    /// `{ns}/{model}` in the path.
    ModelPath(ModelRef) { "ns": Namespace, "model": ModelName }
    |s| Ok(Self(s.model()?))
);

path_extractor!(
    /// `{ns}/{model}/versions/{v}` in the path.
    VersionPath(ModelRef, VersionNumber) { "ns": Namespace, "model": ModelName, "v": VersionNumber }
    |s| Ok(Self(s.model()?, s.get("v")?))
);

path_extractor!(
    /// `{ns}/{model}/versions/{v}/signatures/{keyid}` in the path.
    SignaturePath(ModelRef, VersionNumber, KeyId) {
        "ns": Namespace, "model": ModelName, "v": VersionNumber, "keyid": KeyId
    }
    |s| Ok(Self(s.model()?, s.get("v")?, s.get("keyid")?))
);

path_extractor!(
    /// `{ns}/{model}/versions/{v}/attestations/{id}` in the path.
    AttestationPath(ModelRef, VersionNumber, Uuid) {
        "ns": Namespace, "model": ModelName, "v": VersionNumber, "id": Uuid
    }
    |s| Ok(Self(s.model()?, s.get("v")?, s.get("id")?))
);

path_extractor!(
    /// `{ns}/{model}/aliases/{alias}` in the path (aliases follow the rule of
    /// model names).
    AliasPath(ModelRef, AliasName) { "ns": Namespace, "model": ModelName, "alias": AliasName }
    |s| {
        let alias = s.get("alias")?;
        Ok(Self(s.model()?, alias))
    }
);

path_extractor!(
    /// `{ns}/{model}/versions/{v}/files/{path}` in the path, of a file that may
    /// exist (read, removed).
    FileParams(ModelRef, VersionNumber, FilePath) {
        "ns": Namespace, "model": ModelName, "v": VersionNumber, "path": FilePath
    }
    |s| Ok(Self(s.model()?, s.get("v")?, s.get("path")?))
);

path_extractor!(
    /// `{ns}/{model}/versions/{v}/files/{path}` in the path, of a file being
    /// written: its path must also be portable.
    NewFileParams(ModelRef, VersionNumber, NewFilePath) {
        "ns": Namespace, "model": ModelName, "v": VersionNumber, "path": NewFilePath
    }
    |s| Ok(Self(s.model()?, s.get("v")?, s.get("path")?))
);

path_extractor!(
    /// `{ns}/{model}/versions/{v}/uploads/{id}` in the path. An id that is no
    /// UUID names no upload.
    UploadPath(ModelRef, VersionNumber, Uuid) {
        "ns": Namespace, "model": ModelName, "v": VersionNumber, "id": Uuid
    }
    |s| {
        let id = Uuid::try_parse(s.raw("id")?).map_err(|_| Error::NotFound)?;
        Ok(Self(s.model()?, s.get("v")?, id))
    }
);

path_extractor!(
    /// `{ns}` of the members' routes: a namespace, or `*` for global roles.
    ScopePath(BindingScope) { "ns": BindingScope }
    |s| Ok(Self(s.get("ns")?))
);

path_extractor!(
    /// `{ns}/members/{principal}` in the path; `{ns}` may be `*`.
    MemberPath(BindingScope, PrincipalName) { "ns": BindingScope, "principal": PrincipalName }
    |s| Ok(Self(s.get("ns")?, s.get("principal")?))
);

path_extractor!(
    /// `{ns}/trusted-publishers/{name}` in the path.
    PublisherPath(Namespace, PublisherName) { "ns": Namespace, "name": PublisherName }
    |s| Ok(Self(s.get("ns")?, s.get("name")?))
);

path_extractor!(
    /// `{ns}/webhooks/{id}` in the path: one of a namespace's webhooks.
    WebhookPath(Namespace, Uuid) { "ns": Namespace, "id": Uuid }
    |s| Ok(Self(s.get("ns")?, s.get("id")?))
);

path_extractor!(
    /// `{ns}/webhooks/{id}/deliveries/{delivery}` in the path.
    DeliveryPath(Namespace, Uuid, Uuid) { "ns": Namespace, "id": Uuid, "delivery": Uuid }
    |s| Ok(Self(s.get("ns")?, s.get("id")?, s.get("delivery")?))
);

path_extractor!(
    /// `{keyid}` in the path.
    KeyPath(KeyId) { "keyid": KeyId }
    |s| Ok(Self(s.get("keyid")?))
);

path_extractor!(
    /// `{sha256}` in the path: a dataset's digest.
    DatasetPath(Sha256) { "sha256": Sha256 }
    |s| Ok(Self(s.get("sha256")?))
);

path_extractor!(
    /// `{commit}` in the path.
    CommitPath(CommitId) { "commit": CommitId }
    |s| Ok(Self(s.get("commit")?))
);

path_extractor!(
    /// `{id}` in the path: a token's or a quarantine's.
    IdPath(Uuid) { "id": Uuid }
    |s| Ok(Self(s.get("id")?))
);

path_extractor!(
    /// `{path}` after `/v1/audit/log/tile/`: a hash tile.
    TilePath(Tile) { "path": HashTile }
    |s| Ok(Self(s.get::<HashTile>("path")?.0))
);

path_extractor!(
    /// `{path}` after `/v1/audit/log/tile/entries/`: an entry bundle.
    BundlePath(Tile) { "path": EntryBundle }
    |s| Ok(Self(s.get::<EntryBundle>("path")?.0))
);

path_extractor!(
    /// `{seq}` in the path: an access log event.
    EventPath(u64) { "seq": EventSeq }
    |s| Ok(Self(s.get::<EventSeq>("seq")?.0))
);
