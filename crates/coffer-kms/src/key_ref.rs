//! The ways a request names a KMS key: key id, key ARN, alias name, alias ARN. AWS accepts
//! each of them wherever a `KeyId` goes; an ARN must be of this server's region and account.

use crate::api_error::KmsApiError;

/// This server's place in the AWS naming scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KmsIdentity {
    pub account_id: String,
    pub region: String,
}

impl KmsIdentity {
    pub fn key_arn(&self, key_id: &str) -> String {
        format!(
            "arn:aws:kms:{}:{}:key/{key_id}",
            self.region, self.account_id
        )
    }

    pub fn alias_arn(&self, alias: &str) -> String {
        format!("arn:aws:kms:{}:{}:{alias}", self.region, self.account_id)
    }

    /// The principal an account's root stands for in policies.
    pub fn account_root(&self) -> String {
        format!("arn:aws:iam::{}:root", self.account_id)
    }
}

/// A parsed key reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// A key id (a UUID).
    Id(String),
    /// An alias name, `alias/...`.
    Alias(String),
}

/// Whether `s` is a key id as KMS makes them: a lowercase-or-uppercase hex UUID with dashes.
pub fn is_key_id(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl KeyRef {
    /// Parses any accepted form. A malformed reference is `NotFoundException` ("Invalid
    /// keyId"), as AWS answers it; an ARN of another region or account names nothing here.
    pub fn parse(given: &str, identity: &KmsIdentity) -> Result<KeyRef, KmsApiError> {
        if let Some(rest) = given.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [partition, service, region, account, resource] = parts[..] else {
                return Err(KmsApiError::invalid_arn(format!("Invalid arn {given}")));
            };
            if partition != "aws" || service != "kms" {
                return Err(KmsApiError::invalid_arn(format!("Invalid arn {given}")));
            }
            if region != identity.region {
                return Err(KmsApiError::not_found(format!("Invalid arn {region}")));
            }
            if account != identity.account_id {
                return Err(KmsApiError::not_found(format!(
                    "Key '{given}' does not exist"
                )));
            }
            return match resource.split_once('/') {
                Some(("key", id)) if is_key_id(id) => Ok(KeyRef::Id(id.to_ascii_lowercase())),
                Some(("alias", _)) => Ok(KeyRef::Alias(resource.to_owned())),
                _ => Err(KmsApiError::invalid_key_id(given)),
            };
        }
        if given.starts_with("alias/") {
            return Ok(KeyRef::Alias(given.to_owned()));
        }
        if is_key_id(given) {
            return Ok(KeyRef::Id(given.to_ascii_lowercase()));
        }
        Err(KmsApiError::invalid_key_id(given))
    }
}

/// Checks an alias name for CreateAlias/UpdateAlias/DeleteAlias (`alias/` + 1-250 of
/// `[a-zA-Z0-9:/_-]`). `alias/aws/` is AWS's.
pub fn check_alias_name(name: &str, creating: bool) -> Result<(), KmsApiError> {
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(KmsApiError::validation(
            "Alias must start with the prefix \"alias/\". Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html",
        ));
    };
    let valid_chars = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b":/_-".contains(&b));
    if rest.is_empty() || name.len() > 256 || !valid_chars {
        return Err(KmsApiError::validation(format!(
            "1 validation error detected: Value '{name}' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$"
        )));
    }
    if creating && rest.starts_with("aws/") {
        return Err(KmsApiError::invalid_alias_name(format!(
            "Alias {name} cannot begin with aws/"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> KmsIdentity {
        KmsIdentity {
            account_id: "000000000000".into(),
            region: "us-east-1".into(),
        }
    }

    #[test]
    fn every_form_parses_and_foreign_or_malformed_ones_are_not_found() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let i = here();
        assert_eq!(KeyRef::parse(id, &i).unwrap(), KeyRef::Id(id.into()));
        assert_eq!(
            KeyRef::parse(&i.key_arn(id), &i).unwrap(),
            KeyRef::Id(id.into())
        );
        assert_eq!(
            KeyRef::parse("alias/app", &i).unwrap(),
            KeyRef::Alias("alias/app".into())
        );
        assert_eq!(
            KeyRef::parse(&i.alias_arn("alias/app"), &i).unwrap(),
            KeyRef::Alias("alias/app".into())
        );
        for bad in [
            "fake-key-id",
            "134f2428cec14b25a1ae9048164dba47",
            "mrk-fake-key-id",
            "",
        ] {
            let e = KeyRef::parse(bad, &i).unwrap_err();
            assert_eq!(e.code, "NotFoundException");
            assert_eq!(e.message, format!("Invalid keyId '{bad}'"));
        }
        let other = format!("arn:aws:kms:eu-west-1:000000000000:key/{id}");
        assert_eq!(
            KeyRef::parse(&other, &i).unwrap_err().message,
            "Invalid arn eu-west-1"
        );
        assert!(check_alias_name("alias/aws/s3", true).is_err());
        assert!(check_alias_name("app", true).is_err());
        assert!(check_alias_name("alias/ok_name-1", true).is_ok());
    }
}
