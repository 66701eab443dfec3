//! The panel's forms: composer, pre-chat form, offline form, and the
//! closed chat's transcript by email. Each checks its own input (empty,
//! too long, required, an address out of shape) and shows the refusal in
//! its own words next to the field, so bad input never leaves the form and
//! nothing typed is lost.

use super::dom::{add, attr, el, el_text, set_text, show};
use crate::config::Prechat;
use crate::i18n::Texts;
use crate::view::ViewEmail;
use twinline_core::model::{TextError, check_text};
use twinline_core::transcript_email::{AddressError, MAX_ADDRESS_BYTES, check_address};
use wasm_bindgen::JsCast;
use web_sys::{Document, Element, HtmlInputElement, HtmlTextAreaElement};

#[derive(Clone)]
/// A form with its error line and submit button.
pub struct Form {
    /// The form element.
    pub form: Element,
    /// Where refusals go.
    pub error: Element,
}

impl Form {
    fn new(doc: &Document, class: &str) -> Form {
        let form = el(doc, "form", class);
        attr(&form, "novalidate", "");
        let error = el(doc, "p", "err");
        attr(&error, "role", "alert");
        show(&error, false);
        Form { form, error }
    }

    fn finish(&self, doc: &Document, button: &str) -> Element {
        add(&self.form, &self.error);
        let submit = el_text(doc, "button", "btn", button);
        attr(&submit, "type", "submit");
        add(&self.form, &submit);
        submit
    }

    /// Shows a refusal, or clears it with `None`.
    pub fn refuse(&self, message: Option<&str>) {
        set_text(&self.error, message.unwrap_or(""));
        show(&self.error, message.is_some());
    }
}

/// The composer: a textarea and a send button.
#[derive(Clone)]
pub struct Composer {
    /// Form and error line.
    pub form: Form,
    /// The text field.
    pub text: HtmlTextAreaElement,
}

impl Composer {
    /// Builds the composer.
    pub fn new(doc: &Document, texts: &Texts) -> Composer {
        let form = Form::new(doc, "composer");
        add(&form.form, &form.error);
        let row = el(doc, "div", "row");
        let text = el(doc, "textarea", "");
        attr(&text, "rows", "2");
        attr(&text, "placeholder", texts.placeholder);
        attr(&text, "aria-label", texts.placeholder);
        attr(&text, "maxlength", "4000");
        add(&row, &text);
        let send = el_text(doc, "button", "btn", texts.send);
        attr(&send, "type", "submit");
        add(&row, &send);
        add(&form.form, &row);
        Composer {
            form,
            text: text.unchecked_into(),
        }
    }

    /// The text to send, or the refusal to show.
    pub fn take(&self, texts: &Texts) -> Result<String, &'static str> {
        let text = self.text.value();
        check_text(&text).map_err(|e| text_refusal(&e, texts))?;
        self.text.set_value("");
        Ok(text)
    }
}

/// The refusal for a core text error.
pub fn text_refusal(error: &TextError, texts: &Texts) -> &'static str {
    match error {
        TextError::Empty => texts.error_empty,
        TextError::TooLong { .. } => texts.error_too_long,
    }
}

/// Name and email, before the first message.
#[derive(Clone)]
pub struct PrechatForm {
    /// Form and error line.
    pub form: Form,
    name: HtmlInputElement,
    email: HtmlInputElement,
    required: bool,
}

impl PrechatForm {
    /// Builds the pre-chat form.
    pub fn new(doc: &Document, texts: &Texts, mode: Prechat) -> PrechatForm {
        let form = Form::new(doc, "prechat");
        let required = mode == Prechat::Required;
        add(&form.form, &el_text(doc, "p", "note", texts.prechat_intro));
        let name = field(
            doc, &form.form, texts.name, "text", "name", !required, texts,
        );
        let email = field(
            doc,
            &form.form,
            texts.email,
            "email",
            "email",
            !required,
            texts,
        );
        form.finish(doc, texts.start_chat);
        PrechatForm {
            form,
            name,
            email,
            required,
        }
    }

    /// The first field, for focus.
    pub fn first(&self) -> &Element {
        &self.name
    }

    /// (name, email), or the refusal and the field to focus.
    pub fn take(&self, texts: &Texts) -> Result<(String, String), (&'static str, Element)> {
        let name = self.name.value().trim().to_string();
        let email = self.email.value().trim().to_string();
        if self.required && name.is_empty() {
            return Err((texts.error_required, self.name.clone().into()));
        }
        if (self.required || !email.is_empty()) && !email.contains('@') {
            return Err((texts.error_required, self.email.clone().into()));
        }
        Ok((name, email))
    }
}

/// The offline form: name, email (required, to be answered) and a message.
#[derive(Clone)]
pub struct OfflineForm {
    /// Form and error line.
    pub form: Form,
    name: HtmlInputElement,
    email: HtmlInputElement,
    text: HtmlTextAreaElement,
}

impl OfflineForm {
    /// Builds the offline form.
    pub fn new(doc: &Document, texts: &Texts) -> OfflineForm {
        let form = Form::new(doc, "offline");
        add(&form.form, &el_text(doc, "p", "note", texts.offline_intro));
        let name = field(doc, &form.form, texts.name, "text", "name", true, texts);
        let email = field(doc, &form.form, texts.email, "email", "email", false, texts);
        let label = el_text(doc, "label", "", texts.your_message);
        let text = el(doc, "textarea", "");
        attr(&text, "rows", "3");
        attr(&text, "maxlength", "4000");
        add(&label, &text);
        add(&form.form, &label);
        form.finish(doc, texts.leave_message);
        OfflineForm {
            form,
            name,
            email,
            text: text.unchecked_into(),
        }
    }

    /// The first field, for focus.
    pub fn first(&self) -> &Element {
        &self.name
    }

    /// Fills name and email the visitor already gave.
    pub fn prefill(&self, name: &str, email: &str) {
        if self.name.value().is_empty() {
            self.name.set_value(name);
        }
        if self.email.value().is_empty() {
            self.email.set_value(email);
        }
    }

    /// (name, email, text), or the refusal and the field to focus.
    pub fn take(&self, texts: &Texts) -> Result<(String, String, String), (&'static str, Element)> {
        let email = self.email.value().trim().to_string();
        if !email.contains('@') {
            return Err((texts.error_required, self.email.clone().into()));
        }
        let text = self.text.value();
        if let Err(error) = check_text(&text) {
            return Err((text_refusal(&error, texts), self.text.clone().into()));
        }
        Ok((self.name.value().trim().to_string(), email, text))
    }
}

/// The closed chat's "Email me the transcript": an address (checked as
/// every relay checks it, `twinline_core::transcript_email`) and a polite
/// live line that says when the request is on its way and when a
/// deployment stored it (the email goes once the chat is closed). The form
/// shows only where the relay sends email (`View::mail`); the line stays.
#[derive(Clone)]
pub struct EmailForm {
    /// Form and error line.
    pub form: Form,
    /// The request's state.
    pub state: Element,
    email: HtmlInputElement,
}

impl EmailForm {
    /// Builds the form.
    pub fn new(doc: &Document, texts: &Texts) -> EmailForm {
        let form = Form::new(doc, "mail");
        let email = field(doc, &form.form, texts.email, "email", "email", false, texts);
        // The core's limit, as a literal (no number formatting in the bundle).
        const _: () = assert!(MAX_ADDRESS_BYTES == 254);
        attr(&email, "maxlength", "254");
        form.finish(doc, texts.email_me);
        let state = el(doc, "p", "note");
        attr(&state, "aria-live", "polite");
        EmailForm { form, state, email }
    }

    /// The address, or the refusal to show.
    pub fn take(&self, texts: &Texts) -> Result<String, &'static str> {
        let to = self.email.value().trim().to_string();
        check_address(&to).map_err(|error| match error {
            AddressError::TooLong(_) => texts.error_too_long,
            AddressError::Malformed => texts.error_email,
        })?;
        Ok(to)
    }

    /// Offers the form where the relay sends email; says where the latest
    /// request stands.
    pub fn render(&self, mail: bool, email: Option<&ViewEmail>, texts: &Texts) {
        show(&self.form.form, mail);
        let state = match email {
            None => String::new(),
            Some(e) if e.stored => format!("{}{}", texts.email_stored, e.to),
            Some(_) => texts.email_sending.to_string(),
        };
        set_text(&self.state, &state);
    }
}

fn field(
    doc: &Document,
    form: &Element,
    label_text: &str,
    kind: &str,
    autocomplete: &str,
    optional: bool,
    texts: &Texts,
) -> HtmlInputElement {
    let caption = if optional {
        format!("{label_text} ({})", texts.optional)
    } else {
        label_text.to_string()
    };
    let label = el_text(doc, "label", "", &caption);
    let input = el(doc, "input", "");
    attr(&input, "type", kind);
    attr(&input, "autocomplete", autocomplete);
    attr(&input, "maxlength", "200");
    if !optional {
        attr(&input, "aria-required", "true");
    }
    add(&label, &input);
    add(form, &label);
    input.unchecked_into()
}
