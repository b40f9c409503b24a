//! Checkpoints as signed notes (C2SP `tlog-checkpoint`, `signed-note`): the
//! log's origin, tree size and root hash, signed with the log's Ed25519 key;
//! the verifier key auditors pin (`<name>+<key id>+<base64>`); and opening a
//! note with a pinned key. Other signatures on a note (a witness's
//! cosignature) are ignored when opened and may be appended to what is
//! signed: a checkpoint's text is kept apart from its signature lines.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signer, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::Hash;

/// The signature type byte of Ed25519 in signed notes.
const ED25519: u8 = 0x01;
/// Most bytes of a note accepted when opened.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// Why a note does not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is malformed: {0}")]
    Malformed(&'static str),
    #[error("the note carries no signature of the pinned key {0}")]
    Unsigned(String),
    #[error("the note's signature by {0} does not verify")]
    BadSignature(String),
    #[error("the verifier key is malformed: {0}")]
    BadKey(&'static str),
}

/// A checkpoint's content: the log's origin, its size and its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, each ending with a newline.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            STANDARD.encode(self.root)
        )
    }

    fn parse(text: &str) -> Result<Self, NoteError> {
        let mut lines = text.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(NoteError::Malformed("a checkpoint has three lines"));
        };
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or(NoteError::Malformed(
                "the tree size is not a decimal number",
            ))?;
        let root: Hash = STANDARD
            .decode(root)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::Malformed(
                "the root hash is not 32 bytes of base64",
            ))?;
        if origin.is_empty() {
            return Err(NoteError::Malformed("the origin is empty"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
        })
    }
}

/// The 4-byte key id of an Ed25519 key named `name`.
fn key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ED25519]);
    h.update(key.as_bytes());
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// Whether `name` may name a key: not empty, no space, no `+`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// The log's signing key and the name it signs as (the log's origin).
pub struct LogKey {
    name: String,
    key: SigningKey,
}

impl LogKey {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        if !valid_name(name) {
            return Err(NoteError::BadKey("a key name has no space or '+'"));
        }
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key auditors pin: `<name>+<hex key id>+<base64(0x01 ‖ key)>`.
    pub fn verifier_key(&self) -> String {
        let public = self.key.verifying_key();
        let mut material = vec![ED25519];
        material.extend_from_slice(public.as_bytes());
        format!(
            "{}+{}+{}",
            self.name,
            hex::encode(key_id(&self.name, &public)),
            STANDARD.encode(material)
        )
    }

    /// The signature line of `text`: `— <name> <base64(key id ‖ signature)>`.
    pub fn signature_line(&self, text: &str) -> String {
        let mut sig = key_id(&self.name, &self.key.verifying_key()).to_vec();
        sig.extend_from_slice(&self.key.sign(text.as_bytes()).to_bytes());
        format!("— {} {}\n", self.name, STANDARD.encode(sig))
    }

    /// The signed checkpoint: its text, a blank line, the log's signature.
    pub fn sign(&self, c: &Checkpoint) -> String {
        let text = c.text();
        format!("{text}\n{}", self.signature_line(&text))
    }
}

/// A pinned verifier key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    id: [u8; 4],
    key: VerifyingKey,
}

impl NoteVerifier {
    /// Parses `<name>+<hex key id>+<base64(0x01 ‖ key)>`; the id must be the
    /// key's.
    pub fn parse(vkey: &str) -> Result<Self, NoteError> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::BadKey("it is <name>+<key id>+<key>"));
        };
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(NoteError::BadKey("the key id is 8 hex digits"))?;
        let material = STANDARD
            .decode(material)
            .map_err(|_| NoteError::BadKey("the key is not base64"))?;
        let (Some(&ED25519), Ok(raw)) = (
            material.first(),
            <[u8; 32]>::try_from(material.get(1..).unwrap_or_default()),
        ) else {
            return Err(NoteError::BadKey("only Ed25519 keys (type 0x01) are read"));
        };
        let key =
            VerifyingKey::from_bytes(&raw).map_err(|_| NoteError::BadKey("not an Ed25519 key"))?;
        if !valid_name(name) || key_id(name, &key) != id {
            return Err(NoteError::BadKey("the key id is not this name's and key's"));
        }
        Ok(Self {
            name: name.to_owned(),
            id,
            key,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Opens a signed checkpoint: its text must carry a valid signature of
    /// this key (signatures of other keys are ignored; one of this key that
    /// fails to verify rejects the note).
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("the note is too large"));
        }
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(NoteError::Malformed("the note holds control characters"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..=split], &note[split + 2..]);
        let mut verified = false;
        for line in sigs.split_terminator('\n') {
            let rest = line.strip_prefix("— ").ok_or(NoteError::Malformed(
                "a signature line starts with an em dash",
            ))?;
            let (name, sig) = rest
                .split_once(' ')
                .ok_or(NoteError::Malformed("a signature line names its key"))?;
            let sig = STANDARD
                .decode(sig)
                .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
            if name != self.name || sig.len() < 4 || sig[..4] != self.id {
                continue;
            }
            let ok = ed25519_dalek::Signature::from_slice(&sig[4..])
                .is_ok_and(|s| self.key.verify(text.as_bytes(), &s).is_ok());
            if !ok {
                return Err(NoteError::BadSignature(self.name.clone()));
            }
            verified = true;
        }
        if !verified {
            return Err(NoteError::Unsigned(self.name.clone()));
        }
        Checkpoint::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> LogKey {
        LogKey::new("registry.example/audit", SigningKey::from_bytes(&[7u8; 32])).unwrap()
    }

    #[test]
    fn the_signed_note_example_of_the_specification_opens() {
        let vkey = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
        let v = NoteVerifier::parse(vkey).unwrap();
        let note = "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n";
        // Not a checkpoint, but the signature checks out before the text is read.
        assert_eq!(
            v.open(note),
            Err(NoteError::Malformed("a checkpoint has three lines"))
        );
        let bent = note.replace("example message", "example massage");
        assert_eq!(
            v.open(&bent),
            Err(NoteError::BadSignature("example.com/foo".into()))
        );
    }

    #[test]
    fn a_checkpoint_opens_with_its_key_only() {
        let k = key();
        let c = Checkpoint {
            origin: "registry.example/audit".into(),
            size: 20852163,
            root: [9u8; 32],
        };
        let note = k.sign(&c);
        let v = NoteVerifier::parse(&k.verifier_key()).unwrap();
        assert_eq!(v.open(&note), Ok(c.clone()));
        // A cosignature of another key is ignored.
        let other = LogKey::new("witness.example", SigningKey::from_bytes(&[8u8; 32])).unwrap();
        let cosigned = format!("{note}{}", other.signature_line(&c.text()));
        assert_eq!(v.open(&cosigned), Ok(c.clone()));
        // Another key, or another size under the same signature, does not open.
        let stranger = NoteVerifier::parse(&other.verifier_key()).unwrap();
        assert!(matches!(stranger.open(&note), Err(NoteError::Unsigned(_))));
        let forged = note.replacen("20852163", "20852164", 1);
        assert!(matches!(v.open(&forged), Err(NoteError::BadSignature(_))));
        // A verifier key whose id does not match its name and key is refused.
        let vk = k
            .verifier_key()
            .replace("registry.example/audit", "registry.example/other");
        assert!(NoteVerifier::parse(&vk).is_err());
    }
}
