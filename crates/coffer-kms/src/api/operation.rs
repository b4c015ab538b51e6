//! The operations this KMS serves, listed once: the name in `X-Amz-Target`
//! (`TrentService.<name>`), the metrics label and the audit `eventName` all come from
//! [`Operation::as_str`], and dispatch matches on the enum, so the three cannot drift apart.

/// Declares [`Operation`], [`Operation::ALL`] and [`Operation::as_str`] from one list.
macro_rules! operations {
    ($($op:ident),* $(,)?) => {
        /// One KMS JSON API operation.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $($op),*
        }

        impl Operation {
            /// Every operation served.
            pub const ALL: &'static [Operation] = &[$(Operation::$op),*];

            /// AWS's name of the operation.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Operation::$op => stringify!($op)),*
                }
            }
        }
    };
}

operations! {
    CreateKey,
    DescribeKey,
    ListKeys,
    UpdateKeyDescription,
    TagResource,
    UntagResource,
    ListResourceTags,
    CreateAlias,
    UpdateAlias,
    DeleteAlias,
    ListAliases,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    Encrypt,
    Decrypt,
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    GenerateRandom,
    EnableKeyRotation,
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    ListKeyRotations,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
}

impl Operation {
    /// The operation a target suffix names (`op` is the part after `TrentService.`), exactly
    /// as AWS spells it.
    pub fn parse(op: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|o| o.as_str() == op)
    }

    /// Whether the operation changes keys or aliases: such a change commits together with its
    /// audit record.
    pub fn is_change(self) -> bool {
        use Operation::*;
        match self {
            CreateKey | UpdateKeyDescription | TagResource | UntagResource | CreateAlias
            | UpdateAlias | DeleteAlias | EnableKey | DisableKey | ScheduleKeyDeletion
            | CancelKeyDeletion | EnableKeyRotation | DisableKeyRotation | RotateKeyOnDemand
            | PutKeyPolicy => true,
            DescribeKey
            | ListKeys
            | ListResourceTags
            | ListAliases
            | Encrypt
            | Decrypt
            | ReEncrypt
            | GenerateDataKey
            | GenerateDataKeyWithoutPlaintext
            | GenerateRandom
            | GetKeyRotationStatus
            | ListKeyRotations
            | GetKeyPolicy
            | ListKeyPolicies => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_parses_from_its_own_name_and_nothing_else_does() {
        assert_eq!(Operation::ALL.len(), 29);
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(*op));
        }
        for unknown in [
            "",
            "createKey",
            "CreateKey ",
            "TrentService.CreateKey",
            "Sign",
        ] {
            assert_eq!(Operation::parse(unknown), None, "{unknown:?}");
        }
        let changes: Vec<&str> = Operation::ALL
            .iter()
            .filter(|o| o.is_change())
            .map(|o| o.as_str())
            .collect();
        assert_eq!(
            changes,
            [
                "CreateKey",
                "UpdateKeyDescription",
                "TagResource",
                "UntagResource",
                "CreateAlias",
                "UpdateAlias",
                "DeleteAlias",
                "EnableKey",
                "DisableKey",
                "ScheduleKeyDeletion",
                "CancelKeyDeletion",
                "EnableKeyRotation",
                "DisableKeyRotation",
                "RotateKeyOnDemand",
                "PutKeyPolicy",
            ]
        );
    }
}
