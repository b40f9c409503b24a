//! How each value of this module is written as text (in JSON, in SQL, in
//! messages) and read back through its parser; version numbers as integers.

use super::*;

/// The traits of a value that is written as text (in JSON, in SQL, in messages)
/// by the method `$text` and read back by `parse`, which checks it again: a stored
/// or sent value that breaks its rule fails loudly instead of flowing on.
macro_rules! text_value {
    ($ty:ty, $text:ident) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(AsRef::<str>::as_ref(&self.$text()))
            }
        }

        impl ::serde::Serialize for $ty {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(AsRef::<str>::as_ref(&self.$text()))
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $ty {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&s).map_err(::serde::de::Error::custom)
            }
        }

        impl<DB: ::sqlx::Database> ::sqlx::Type<DB> for $ty
        where
            str: ::sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as ::sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as ::sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: ::sqlx::Database> ::sqlx::Encode<'q, DB> for $ty
        where
            String: ::sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut DB::ArgumentBuffer,
            ) -> Result<::sqlx::encode::IsNull, ::sqlx::error::BoxDynError> {
                let text = AsRef::<str>::as_ref(&self.$text()).to_owned();
                <String as ::sqlx::Encode<'q, DB>>::encode(text, buf)
            }
        }

        impl<'r, DB: ::sqlx::Database> ::sqlx::Decode<'r, DB> for $ty
        where
            &'r str: ::sqlx::Decode<'r, DB>,
        {
            fn decode(value: DB::ValueRef<'r>) -> Result<Self, ::sqlx::error::BoxDynError> {
                Ok(Self::parse(<&'r str as ::sqlx::Decode<'r, DB>>::decode(
                    value,
                )?)?)
            }
        }
    };
}
pub(crate) use text_value;

text_value!(Namespace, as_str);
text_value!(ModelName, as_str);
text_value!(AliasName, as_str);
text_value!(PublisherName, as_str);
text_value!(PrincipalName, as_str);
text_value!(FilePath, as_str);
text_value!(KeyId, as_str);
text_value!(CommitId, as_str);
text_value!(Sha256, to_hex);

impl<DB: Database> Type<DB> for VersionNumber
where
    i64: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <i64 as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <i64 as Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: Database> Encode<'q, DB> for VersionNumber
where
    i64: Encode<'q, DB>,
{
    fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, DB>>::encode(self.0, buf)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for VersionNumber
where
    i64: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        Ok(Self::new(<i64 as Decode<'r, DB>>::decode(value)?)?)
    }
}
