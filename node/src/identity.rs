//! The node's Ed25519 identity, kept in a key file (libp2p's protobuf key encoding,
//! mode 0600) so its peer id survives restarts.

use std::{fs, io::Write, path::Path};

use anyhow::Context;
use libp2p::identity::Keypair;

/// Loads the key at `path`, or makes one and writes it there if the file does not exist.
/// A file that exists but does not hold an Ed25519 key is an error, never overwritten.
pub fn load_or_create(path: &Path) -> anyhow::Result<Keypair> {
    match fs::read(path) {
        Ok(bytes) => {
            let key = Keypair::from_protobuf_encoding(&bytes).with_context(|| {
                format!("{} does not hold a libp2p private key", path.display())
            })?;
            if key.clone().try_into_ed25519().is_err() {
                anyhow::bail!(
                    "{} holds a {:?} key; nodes use Ed25519",
                    path.display(),
                    key.key_type()
                );
            }
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Keypair::generate_ed25519();
            let bytes = key.to_protobuf_encoding().expect("ed25519 keys encode");
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let mut options = fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options
                .open(path)
                .with_context(|| format!("creating {}", path.display()))?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            tracing::info!(path = %path.display(), peer = %key.public().to_peer_id(), "created a node identity");
            Ok(key)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_keeps_the_peer_id_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/node.key");
        let first = load_or_create(&path).unwrap();
        let again = load_or_create(&path).unwrap();
        assert_eq!(first.public().to_peer_id(), again.public().to_peer_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let junk = dir.path().join("junk.key");
        fs::write(&junk, b"not a key").unwrap();
        let err = load_or_create(&junk).unwrap_err();
        assert!(err.to_string().contains("does not hold"), "{err}");
        assert_eq!(fs::read(&junk).unwrap(), b"not a key");
    }
}
