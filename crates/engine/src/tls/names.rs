//! Names of TLS numbers for presenters: protocol versions, cipher suites (from
//! rusticata's `tls-parser` table, generated from the IANA registry) and alert
//! descriptions (RFC 8446 section 6, RFC 5246 section 7.2). Unknown numbers get `None`:
//! a presenter writes them in hex (`0x1a1a`).

/// `TLS 1.3`, `TLS 1.2`, ... `SSL 3.0`; `None` for anything else (GREASE included).
pub fn version(v: u16) -> Option<&'static str> {
    Some(match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => return None,
    })
}

/// Versions that should no longer be negotiated (RFC 8996: TLS 1.0 and 1.1; SSL 3.0).
pub fn deprecated(v: u16) -> bool {
    (0x0300..=0x0302).contains(&v)
}

/// The IANA name of a cipher suite (`TLS_AES_128_GCM_SHA256`).
pub fn cipher(id: u16) -> Option<&'static str> {
    tls_parser::TlsCipherSuite::from_id(id).map(|c| c.name)
}

/// The name of an alert description (`handshake_failure`).
pub fn alert(d: u8) -> Option<&'static str> {
    Some(match d {
        0 => "close_notify",
        10 => "unexpected_message",
        20 => "bad_record_mac",
        21 => "decryption_failed",
        22 => "record_overflow",
        30 => "decompression_failure",
        40 => "handshake_failure",
        41 => "no_certificate",
        42 => "bad_certificate",
        43 => "unsupported_certificate",
        44 => "certificate_revoked",
        45 => "certificate_expired",
        46 => "certificate_unknown",
        47 => "illegal_parameter",
        48 => "unknown_ca",
        49 => "access_denied",
        50 => "decode_error",
        51 => "decrypt_error",
        60 => "export_restriction",
        70 => "protocol_version",
        71 => "insufficient_security",
        80 => "internal_error",
        86 => "inappropriate_fallback",
        90 => "user_canceled",
        100 => "no_renegotiation",
        109 => "missing_extension",
        110 => "unsupported_extension",
        111 => "certificate_unobtainable",
        112 => "unrecognized_name",
        113 => "bad_certificate_status_response",
        114 => "bad_certificate_hash_value",
        115 => "unknown_psk_identity",
        116 => "certificate_required",
        120 => "no_application_protocol",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(version(0x0304), Some("TLS 1.3"));
        assert_eq!(version(0x0a0a), None);
        assert!(deprecated(0x0301) && deprecated(0x0302) && !deprecated(0x0303));
        assert_eq!(cipher(0x1301), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(
            cipher(0xc02f),
            Some("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")
        );
        assert_eq!(cipher(0x0a0a), None);
        assert_eq!(alert(48), Some("unknown_ca"));
        assert_eq!(alert(255), None);
    }
}
