//! Test certificates made at run time with rcgen: a CA, a server and a client it signs, an
//! expired server certificate, and a second CA with its own server and client, written as
//! PEM files into a fresh directory removed on drop.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Pki {
    pub dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Pki {
    /// Generates every certificate; file names are listed by the accessors below.
    pub fn generate() -> Pki {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ferromqtt-pki-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let pki = Pki { dir };
        for (prefix, ca_name) in [("", "Test CA"), ("other-", "Other CA")] {
            let ca = make_ca(ca_name);
            pki.write(&format!("{prefix}ca.pem"), &ca.pem());
            let server = leaf("broker", &["localhost", "127.0.0.1"], &ca, false);
            pki.write(&format!("{prefix}server.pem"), &server.0);
            pki.write(&format!("{prefix}server.key"), &server.1);
            let client = leaf("device-42", &[], &ca, false);
            pki.write(&format!("{prefix}client.pem"), &client.0);
            pki.write(&format!("{prefix}client.key"), &client.1);
            if prefix.is_empty() {
                let expired = leaf("broker", &["localhost", "127.0.0.1"], &ca, true);
                pki.write("expired.pem", &expired.0);
                pki.write("expired.key", &expired.1);
            }
        }
        pki
    }

    fn write(&self, name: &str, contents: &str) {
        std::fs::write(self.dir.join(name), contents).unwrap();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn make_ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// (certificate PEM, key PEM)
fn leaf(
    common_name: &str,
    names: &[&str],
    ca: &CertifiedIssuer<'static, KeyPair>,
    expired: bool,
) -> (String, String) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let certificate = params.signed_by(&key, ca).unwrap();
    (certificate.pem(), key.serialize_pem())
}
