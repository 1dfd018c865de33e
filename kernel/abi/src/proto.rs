//! The raw request layer below [`interface!`](crate::interface): a request
//! enum declared with [`protocol!`] and its [`Wire`] encoding into a
//! [`Message`] (label = the variant's number, fields = data words in order),
//! and [`Word`], the one-word values both layers are built from.
//!
//! Services do not use `protocol!`: every service interface is declared with
//! `interface!` (typed replies, leases, errors in the same reply). Only the
//! kernel's own IPC tests (`services/testsvc`) use it, because they test the
//! message layer itself: labels, words, leases and kernel errors as they
//! cross, with nothing between them and the system calls.

use crate::Message;

/// A value that travels as one 64-bit message word.
pub trait Word: Sized {
    fn to_word(self) -> u64;
    /// `None` when the word is not a valid value of the type.
    fn from_word(w: u64) -> Option<Self>;
}

macro_rules! word_uint {
    ($($t:ty),*) => {$(
        impl Word for $t {
            fn to_word(self) -> u64 { self as u64 }
            fn from_word(w: u64) -> Option<Self> { <$t>::try_from(w).ok() }
        }
    )*};
}
word_uint!(u8, u16, u32, u64, usize);

impl Word for i64 {
    fn to_word(self) -> u64 {
        self as u64
    }
    fn from_word(w: u64) -> Option<Self> {
        Some(w as i64)
    }
}

impl Word for bool {
    fn to_word(self) -> u64 {
        self as u64
    }
    fn from_word(w: u64) -> Option<Self> {
        match w {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

/// Why a received message is not a valid value of the protocol type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// No variant has this label.
    UnknownLabel(u64),
    /// Field `index` holds `value`, which its type does not accept.
    BadField {
        label: u64,
        index: usize,
        value: u64,
    },
}

/// Encoding of a typed message into the fixed message layout.
pub trait Wire: Sized {
    /// Sets the label and the data words (leases and cap are left alone).
    fn encode(&self, msg: &mut Message);
    fn decode(msg: &Message) -> Result<Self, DecodeError>;

    fn to_message(&self) -> Message {
        let mut m = Message::default();
        self.encode(&mut m);
        m
    }
}

/// Declares a protocol enum and its [`Wire`] encoding:
///
/// ```
/// abi::protocol! {
///     pub enum EchoRequest {
///         Ping = 1 { value: u64 },
///         Add = 2 { a: u32, b: u32 },
///         Quit = 3 {},
///     }
/// }
/// ```
#[macro_export]
macro_rules! protocol {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $label:literal { $( $field:ident : $ty:ty ),* $(,)? } ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant { $( $field: $ty ),* } ),*
        }

        $( const _: () = assert!(
            { let names: &[&str] = &[$( stringify!($field) ),*]; names.len() } <= $crate::MSG_WORDS,
            "a protocol variant has more fields than a message has words"
        ); )*

        impl $crate::proto::Wire for $name {
            #[allow(unused_assignments, unused_mut, unused_variables)]
            fn encode(&self, msg: &mut $crate::Message) {
                match *self {
                    $( $name::$variant { $( $field ),* } => {
                        msg.label = $label;
                        let mut i = 0usize;
                        $( msg.words[i] = $crate::proto::Word::to_word($field); i += 1; )*
                    } ),*
                }
            }

            #[allow(unused_assignments, unused_mut, unused_variables)]
            fn decode(msg: &$crate::Message) -> Result<Self, $crate::proto::DecodeError> {
                match msg.label {
                    $( $label => {
                        let mut i = 0usize;
                        $(
                            let w = msg.words[i];
                            let $field: $ty = $crate::proto::Word::from_word(w).ok_or(
                                $crate::proto::DecodeError::BadField { label: msg.label, index: i, value: w },
                            )?;
                            i += 1;
                        )*
                        Ok($name::$variant { $( $field ),* })
                    } ),*
                    other => Err($crate::proto::DecodeError::UnknownLabel(other)),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    crate::protocol! {
        enum Req {
            /// Documented variant.
            Ping = 1 { value: u64 },
            Add = 2 { a: u32, b: u32, wrap: bool },
            Quit = 3 {},
        }
    }

    #[test]
    fn every_variant_round_trips() {
        for r in [
            Req::Ping { value: u64::MAX },
            Req::Add {
                a: 1,
                b: u32::MAX,
                wrap: true,
            },
            Req::Quit {},
        ] {
            let m = r.to_message();
            assert_eq!(Req::decode(&m), Ok(r));
        }
        let m = Req::Add {
            a: 5,
            b: 6,
            wrap: false,
        }
        .to_message();
        assert_eq!((m.label, m.words[0], m.words[1], m.words[2]), (2, 5, 6, 0));
    }

    #[test]
    fn unknown_label_and_out_of_range_fields_are_errors() {
        let mut m = Message::new(9, &[]);
        assert_eq!(Req::decode(&m), Err(DecodeError::UnknownLabel(9)));
        m = Message::new(2, &[1, 1 << 40, 0]);
        assert_eq!(
            Req::decode(&m),
            Err(DecodeError::BadField {
                label: 2,
                index: 1,
                value: 1 << 40
            })
        );
        m = Message::new(2, &[1, 2, 7]);
        assert_eq!(
            Req::decode(&m),
            Err(DecodeError::BadField {
                label: 2,
                index: 2,
                value: 7
            })
        );
    }
}
