//! The widget's words, in English and German.
//!
//! The language comes from `TwinlineConfig.lang` if the site sets one, else
//! from `navigator.language`; anything that is not German gets English. All
//! texts are `&'static str` in one table per language, so adding a language is
//! adding one table and one match arm, and nothing is formatted at runtime
//! except the few texts with a number or a name in them.

/// A language the widget speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English, the default.
    En,
    /// German.
    De,
}

impl Lang {
    /// The language for a BCP 47 tag such as `de-AT` or `en`; English for
    /// anything unknown or empty.
    pub fn from_tag(tag: &str) -> Lang {
        let primary = tag.split(['-', '_']).next().unwrap_or("");
        if primary.eq_ignore_ascii_case("de") {
            Lang::De
        } else {
            Lang::En
        }
    }

    /// The page's language: the site's choice (`TwinlineConfig.lang`) if it
    /// made one, else the browser's.
    #[cfg(target_arch = "wasm32")]
    pub fn for_page(configured: Option<&str>) -> Lang {
        match configured {
            Some(tag) => Lang::from_tag(tag),
            None => Lang::from_tag(
                &web_sys::window()
                    .and_then(|w| w.navigator().language())
                    .unwrap_or_default(),
            ),
        }
    }

    /// The tag for the `lang` attribute.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
        }
    }

    /// The texts in this language.
    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
        }
    }
}

/// Every text the widget shows or reads out.
#[derive(Debug)]
pub struct Texts {
    /// Panel heading.
    pub title: &'static str,
    /// Launcher button label (screen readers).
    pub open_chat: &'static str,
    /// Close button label.
    pub close_chat: &'static str,
    /// Composer placeholder.
    pub placeholder: &'static str,
    /// Send button.
    pub send: &'static str,
    /// Own message not yet stored by a relay.
    pub sending: &'static str,
    /// Own message stored.
    pub sent: &'static str,
    /// Own message refused by the service.
    pub not_sent: &'static str,
    /// Under the newest own message the operator has seen (a read
    /// receipt).
    pub seen: &'static str,
    /// Shown as the author of the visitor's own messages.
    pub you: &'static str,
    /// Author name when an operator has none.
    pub support: &'static str,
    /// Typing indicator when the name is unknown.
    pub someone_typing: &'static str,
    /// Typing indicator, before the name: "{name} is typing".
    pub typing_suffix: &'static str,
    /// Calm note while neither deployment answers.
    pub reconnecting: &'static str,
    /// While the chat waits for an operator.
    pub waiting: &'static str,
    /// Pre-chat form intro.
    pub prechat_intro: &'static str,
    /// Name field.
    pub name: &'static str,
    /// Email field.
    pub email: &'static str,
    /// Marks optional fields.
    pub optional: &'static str,
    /// Pre-chat form button.
    pub start_chat: &'static str,
    /// Offline form intro.
    pub offline_intro: &'static str,
    /// Offline form message field.
    pub your_message: &'static str,
    /// Offline form button.
    pub leave_message: &'static str,
    /// After an offline message was stored.
    pub offline_thanks: &'static str,
    /// The chat was closed.
    pub chat_ended: &'static str,
    /// Button after the chat was closed.
    pub new_chat: &'static str,
    /// The rating's question, once the chat is closed.
    pub rate_prompt: &'static str,
    /// The rating's "good" button.
    pub rate_good: &'static str,
    /// The rating's "bad" button.
    pub rate_bad: &'static str,
    /// The rating's comment field.
    pub rate_comment: &'static str,
    /// The rating is on its way.
    pub rate_sending: &'static str,
    /// The rating is stored.
    pub rate_thanks: &'static str,
    /// The closed chat's transcript-by-email button.
    pub email_me: &'static str,
    /// The transcript request is on its way.
    pub email_sending: &'static str,
    /// The transcript request is stored, before the address.
    pub email_stored: &'static str,
    /// Unread badge label, after the number: "3 unread messages".
    pub unread_suffix: &'static str,
    /// Refusal: empty text.
    pub error_empty: &'static str,
    /// Refusal: text too long.
    pub error_too_long: &'static str,
    /// Refusal: a required field is empty.
    pub error_required: &'static str,
    /// Refusal: not an email address.
    pub error_email: &'static str,
}

static EN: Texts = Texts {
    title: "Chat with us",
    open_chat: "Open chat",
    close_chat: "Close chat",
    placeholder: "Type your message…",
    send: "Send",
    sending: "Sending…",
    sent: "Sent",
    not_sent: "Not sent",
    seen: "Seen",
    you: "You",
    support: "Support",
    someone_typing: "Someone is typing…",
    typing_suffix: " is typing…",
    reconnecting: "Reconnecting… your messages are kept and will be sent.",
    waiting: "An operator will be with you shortly.",
    prechat_intro: "Before we start: how may we call you?",
    name: "Name",
    email: "Email",
    optional: "optional",
    start_chat: "Start chat",
    offline_intro: "We are not online right now. Leave a message and we will reply by email.",
    your_message: "Your message",
    leave_message: "Leave message",
    offline_thanks: "Thank you! We will get back to you by email.",
    chat_ended: "This chat has ended.",
    new_chat: "Start a new chat",
    rate_prompt: "How was this chat?",
    rate_good: "Good",
    rate_bad: "Bad",
    rate_comment: "Comment",
    rate_sending: "Sending your rating…",
    rate_thanks: "Thank you for your rating.",
    email_me: "Email me the transcript",
    email_sending: "Sending your request…",
    email_stored: "The transcript will be emailed to ",
    unread_suffix: " unread messages",
    error_empty: "Please write something first.",
    error_too_long: "This message is too long.",
    error_required: "Please fill in this field.",
    error_email: "Please enter an email address.",
};

static DE: Texts = Texts {
    title: "Chatten Sie mit uns",
    open_chat: "Chat öffnen",
    close_chat: "Chat schließen",
    placeholder: "Ihre Nachricht…",
    send: "Senden",
    sending: "Wird gesendet…",
    sent: "Gesendet",
    not_sent: "Nicht gesendet",
    seen: "Gesehen",
    you: "Sie",
    support: "Support",
    someone_typing: "Jemand schreibt…",
    typing_suffix: " schreibt…",
    reconnecting: "Verbindung wird wiederhergestellt… Ihre Nachrichten bleiben erhalten und werden gesendet.",
    waiting: "Gleich ist jemand für Sie da.",
    prechat_intro: "Bevor es losgeht: Wie dürfen wir Sie nennen?",
    name: "Name",
    email: "E-Mail",
    optional: "optional",
    start_chat: "Chat starten",
    offline_intro: "Wir sind gerade nicht online. Hinterlassen Sie eine Nachricht, wir antworten per E-Mail.",
    your_message: "Ihre Nachricht",
    leave_message: "Nachricht senden",
    offline_thanks: "Danke! Wir melden uns per E-Mail bei Ihnen.",
    chat_ended: "Dieser Chat ist beendet.",
    new_chat: "Neuen Chat starten",
    rate_prompt: "Wie war dieser Chat?",
    rate_good: "Gut",
    rate_bad: "Schlecht",
    rate_comment: "Kommentar",
    rate_sending: "Ihre Bewertung wird gesendet…",
    rate_thanks: "Danke für Ihre Bewertung.",
    email_me: "Protokoll per E-Mail senden",
    email_sending: "Ihre Anfrage wird gesendet…",
    email_stored: "Das Protokoll geht per E-Mail an ",
    unread_suffix: " ungelesene Nachrichten",
    error_empty: "Bitte schreiben Sie zuerst etwas.",
    error_too_long: "Diese Nachricht ist zu lang.",
    error_required: "Bitte füllen Sie dieses Feld aus.",
    error_email: "Bitte geben Sie eine E-Mail-Adresse ein.",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_for_any_german_region_english_otherwise() {
        assert_eq!(Lang::from_tag("de"), Lang::De);
        assert_eq!(Lang::from_tag("de-AT"), Lang::De);
        assert_eq!(Lang::from_tag("DE_ch"), Lang::De);
        assert_eq!(Lang::from_tag("en-GB"), Lang::En);
        assert_eq!(Lang::from_tag("fr"), Lang::En);
        assert_eq!(Lang::from_tag(""), Lang::En);
        assert_eq!(Lang::from_tag("dex"), Lang::En);
    }

    #[test]
    fn every_language_has_every_text() {
        for lang in [Lang::En, Lang::De] {
            let t = lang.texts();
            for text in [
                t.title,
                t.open_chat,
                t.close_chat,
                t.placeholder,
                t.send,
                t.sending,
                t.sent,
                t.not_sent,
                t.seen,
                t.you,
                t.support,
                t.someone_typing,
                t.typing_suffix,
                t.reconnecting,
                t.waiting,
                t.prechat_intro,
                t.name,
                t.email,
                t.optional,
                t.start_chat,
                t.offline_intro,
                t.your_message,
                t.leave_message,
                t.offline_thanks,
                t.chat_ended,
                t.new_chat,
                t.rate_prompt,
                t.rate_good,
                t.rate_bad,
                t.rate_comment,
                t.rate_sending,
                t.rate_thanks,
                t.email_me,
                t.email_sending,
                t.email_stored,
                t.unread_suffix,
                t.error_empty,
                t.error_too_long,
                t.error_required,
                t.error_email,
            ] {
                assert!(!text.trim().is_empty(), "{lang:?} lacks a text");
            }
        }
        assert_ne!(Lang::De.texts().send, Lang::En.texts().send);
    }
}
