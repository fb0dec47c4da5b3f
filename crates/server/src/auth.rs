//! Bearer-token authentication: `authorization: Bearer <token>` checked against a token file
//! (one token per line, `#` comments), reloaded on SIGHUP. Tokens are compared in constant
//! time and never logged.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use subtle::ConstantTimeEq;
use tonic::{Request, Status};

use crate::ServerError;

/// The accepted tokens.
#[derive(Debug, Clone)]
pub struct Auth {
    path: PathBuf,
    tokens: Arc<RwLock<Vec<Vec<u8>>>>,
}

fn read_tokens(path: &Path) -> Result<Vec<Vec<u8>>, ServerError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ServerError::Config(format!("cannot read token file {}: {e}", path.display()))
    })?;
    let tokens: Vec<Vec<u8>> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.as_bytes().to_vec())
        .collect();
    if tokens.is_empty() {
        // An empty file would lock everyone out without saying why.
        return Err(ServerError::Config(format!(
            "token file {} holds no token",
            path.display()
        )));
    }
    Ok(tokens)
}

impl Auth {
    /// Loads the token file.
    pub fn load(path: &Path) -> Result<Self, ServerError> {
        Ok(Auth {
            tokens: Arc::new(RwLock::new(read_tokens(path)?)),
            path: path.to_path_buf(),
        })
    }

    /// Re-reads the token file; on error the old tokens stay in force. Returns the token count.
    pub fn reload(&self) -> Result<usize, ServerError> {
        let tokens = read_tokens(&self.path)?;
        let n = tokens.len();
        *self.tokens.write() = tokens;
        Ok(n)
    }

    /// Whether a presented token is one of ours, in time independent of where they differ.
    pub fn accepts(&self, presented: &[u8]) -> bool {
        let tokens = self.tokens.read();
        // Check every token, so timing does not tell which one (or how many) came close.
        tokens
            .iter()
            .fold(subtle::Choice::from(0), |ok, t| {
                ok | t.as_slice().ct_eq(presented)
            })
            .into()
    }

    /// The interceptor: rejects a request before any work unless it carries a valid token.
    pub fn check(&self, request: Request<()>) -> Result<Request<()>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .ok_or_else(|| unauthenticated("missing authorization metadata (Bearer token)"))?;
        let token = header
            .as_bytes()
            .strip_prefix(b"Bearer ")
            .ok_or_else(|| unauthenticated("authorization must be \"Bearer <token>\""))?;
        if self.accepts(token) {
            Ok(request)
        } else {
            Err(unauthenticated("invalid token"))
        }
    }
}

fn unauthenticated(message: &str) -> Status {
    metrics::counter!(crate::metrics::ERRORS, "code" => "Unauthenticated").increment(1);
    Status::unauthenticated(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(content: &str) -> (tempfile::TempDir, Auth) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("tokens");
        std::fs::write(&path, content).expect("write");
        let auth = Auth::load(&path).expect("load");
        (dir, auth)
    }

    fn request(header: Option<&str>) -> Request<()> {
        let mut r = Request::new(());
        if let Some(h) = header {
            r.metadata_mut()
                .insert("authorization", h.parse().expect("ascii"));
        }
        r
    }

    #[test]
    fn tokens_are_checked_and_reloaded() {
        let (dir, auth) = auth("# trainers\nalpha-123\n\n  beta-456  \n");
        assert!(auth.check(request(Some("Bearer alpha-123"))).is_ok());
        assert!(auth.check(request(Some("Bearer beta-456"))).is_ok());
        for bad in [
            None,
            Some("Bearer alpha-12"),
            Some("alpha-123"),
            Some("Bearer "),
            Some("Bearer # trainers"),
        ] {
            let err = auth.check(request(bad)).expect_err("rejected");
            assert_eq!(err.code(), tonic::Code::Unauthenticated);
            assert!(!err.message().contains("alpha"), "tokens never echo back");
        }
        std::fs::write(dir.path().join("tokens"), "gamma-789\n").expect("write");
        assert_eq!(auth.reload().expect("reload"), 1);
        assert!(auth.check(request(Some("Bearer gamma-789"))).is_ok());
        assert!(
            auth.check(request(Some("Bearer alpha-123"))).is_err(),
            "old tokens revoked"
        );
        std::fs::write(dir.path().join("tokens"), "\n# none\n").expect("write");
        assert!(auth.reload().is_err());
        assert!(
            auth.check(request(Some("Bearer gamma-789"))).is_ok(),
            "a bad reload keeps the old tokens"
        );
    }
}
