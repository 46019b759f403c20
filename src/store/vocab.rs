//! The closed vocabularies stored as text: job state and kind, outbox kind
//! and state. Each has one mapping to its SQL text (`as_str`); parsing
//! (`FromStr`), `Display` and serialisation are derived from it, so the
//! store API takes and returns enums while the stored values stay the same
//! words. The verdict's vocabulary is [`crate::result::Verdict`]'s.

use std::fmt;

/// A stored word that is not in its vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} '{value}'")]
pub struct UnknownWord {
    pub what: &'static str,
    pub value: String,
}

impl UnknownWord {
    /// As a row-decoding error.
    pub(crate) fn decode(self) -> sqlx::Error {
        sqlx::Error::Decode(Box::new(self))
    }
}

/// Parse a word of a vocabulary by its one mapping, `as_str`.
pub(crate) fn parse_word<T: Copy>(
    all: &[T],
    as_str: fn(T) -> &'static str,
    what: &'static str,
    s: &str,
) -> Result<T, UnknownWord> {
    all.iter()
        .copied()
        .find(|v| as_str(*v) == s)
        .ok_or_else(|| UnknownWord {
            what,
            value: s.to_owned(),
        })
}

macro_rules! vocabulary {
    ($(#[$m:meta])* $what:literal, $name:ident { $($(#[$vm:meta])* $var:ident = $text:literal,)+ }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $var,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var,)+];

            /// The stored word (the one mapping).
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$var => $text,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                parse_word(Self::ALL, Self::as_str, $what, s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Compares with the stored word (`state == "sent"`).
        impl PartialEq<&str> for $name {
            fn eq(&self, word: &&str) -> bool {
                self.as_str() == *word
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// A job's state in the queue.
    "job state",
    JobState {
        Pending = "pending",
        Running = "running",
        Done = "done",
        Dead = "dead",
    }
);

vocabulary!(
    /// The kind of work a job is, decided at intake from the file's first
    /// bytes; the runner claims each kind against its own limit.
    "job kind",
    JobKind {
        /// Quick work (XML, spreadsheets, unknown bytes).
        Light = "light",
        /// Work that may render or OCR (PDFs, images).
        Heavy = "heavy",
    }
);

vocabulary!(
    /// What a row of the registrations ledger records.
    "registration entry kind",
    EntryKind {
        /// An invoice registered (its certificate).
        Registration = "registration",
        /// A credit or debit note that changed a registration's value.
        Adjustment = "adjustment",
        /// A credit note of anulación (or one crediting everything).
        Cancellation = "cancellation",
    }
);

vocabulary!(
    /// What an outbox message is; also the name of its template.
    "outbox kind",
    OutboxKind {
        CertificateDelivery = "certificate-delivery",
        ProcessingNotification = "processing-notification",
        ErrorAlert = "error-alert",
        ComplianceReport = "compliance-report",
    }
);

vocabulary!(
    /// An outbox message's state.
    "outbox state",
    OutboxState {
        Pending = "pending",
        Sent = "sent",
        Dead = "dead",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(all: &[T])
    where
        T: Copy
            + fmt::Debug
            + PartialEq
            + std::str::FromStr<Err = UnknownWord>
            + fmt::Display
            + serde::Serialize,
    {
        for v in all {
            let word = v.to_string();
            assert_eq!(word.parse::<T>(), Ok(*v));
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(word));
        }
    }

    #[test]
    fn every_word_round_trips() {
        round_trips(JobState::ALL);
        round_trips(JobKind::ALL);
        round_trips(OutboxKind::ALL);
        round_trips(OutboxState::ALL);
        round_trips(crate::result::Verdict::ALL);
    }

    #[test]
    fn the_stored_words_do_not_change() {
        let words = |all: &[&'static str]| all.join(",");
        assert_eq!(
            words(&JobState::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()),
            "pending,running,done,dead"
        );
        assert_eq!(
            words(&JobKind::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>()),
            "light,heavy"
        );
        assert_eq!(
            words(
                &OutboxKind::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
            ),
            "certificate-delivery,processing-notification,error-alert,compliance-report"
        );
        assert_eq!(
            words(
                &OutboxState::ALL
                    .iter()
                    .map(|v| v.as_str())
                    .collect::<Vec<_>>()
            ),
            "pending,sent,dead"
        );
    }

    #[test]
    fn an_unknown_word_is_named() {
        let e = "paused".parse::<JobState>().unwrap_err();
        assert_eq!(e.to_string(), "unknown job state 'paused'");
    }
}
