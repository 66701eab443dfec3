//! What the site owner puts in `window.TwinlineConfig`.
//!
//! ```js
//! window.TwinlineConfig = {
//!   site: "demo",                        // site id the relays know
//!   primary: "https://chat-a.example",   // base URLs of the two deployments
//!   redundant: "https://chat-b.example",
//!   moderator: "https://mod.example",    // optional
//!   prechat: "optional",                 // "off" | "optional" | "required"
//!   lang: "de",                          // optional; default navigator.language
//!   title: "Talk to us",                 // optional panel heading
//! };
//! ```
//!
//! `primaryName`/`redundantName` give the deployments' names when they are not
//! literally "primary" and "redundant" (the moderator names the active one).
//!
//! Both browser bundles read it with [`read_config`], field by field
//! ([`RawConfig::from_fields`]): the launcher bundle carries no serde, and
//! one reader means the launcher and the chat accept and refuse the same
//! configurations. The serde derive is the reference the native tests hold
//! that reader to (same values, same refusals).

use serde::Deserialize;

/// Whether and how the widget asks for name and email before the first message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prechat {
    /// No form: the visitor writes right away.
    Off,
    /// A form with optional name and email; the visitor may skip it.
    #[default]
    Optional,
    /// A form whose name and email must be filled in.
    Required,
}

/// `window.TwinlineConfig`, as the site owner wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RawConfig {
    /// Site id.
    #[serde(default)]
    pub site: String,
    /// Primary deployment base URL.
    #[serde(default)]
    pub primary: String,
    /// Redundant deployment base URL.
    #[serde(default)]
    pub redundant: String,
    /// Moderator base URL.
    #[serde(default)]
    pub moderator: Option<String>,
    /// Primary deployment's name, default "primary".
    #[serde(default)]
    pub primary_name: Option<String>,
    /// Redundant deployment's name, default "redundant".
    #[serde(default)]
    pub redundant_name: Option<String>,
    /// Pre-chat form.
    #[serde(default)]
    pub prechat: Prechat,
    /// Language tag overriding the browser's.
    #[serde(default)]
    pub lang: Option<String>,
    /// Panel heading overriding the default.
    #[serde(default)]
    pub title: Option<String>,
    /// Set by the loader: the base URL the widget was loaded from (the
    /// deployment that just answered), asked first for a visitor token.
    #[serde(default)]
    pub served_by: Option<String>,
}

/// One property of `window.TwinlineConfig`, as [`RawConfig::from_fields`]
/// sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Field {
    /// Not there (`undefined`).
    Missing,
    /// `null`.
    Null,
    /// A string.
    Text(String),
    /// Anything else: a number, a boolean, an object.
    Other,
}

/// `window.TwinlineConfig`, read and validated; both bundles start here.
#[cfg(target_arch = "wasm32")]
pub fn read_config() -> Result<WidgetConfig, ConfigError> {
    use js_sys::Reflect;
    let window = web_sys::window().ok_or_else(|| ConfigError("no window".into()))?;
    let raw = Reflect::get(&window, &"TwinlineConfig".into()).unwrap_or_default();
    if !raw.is_object() {
        return Err(ConfigError("window.TwinlineConfig is not set".into()));
    }
    RawConfig::from_object(&raw)?.validate()
}

/// A validated configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WidgetConfig {
    /// Site id.
    pub site: String,
    /// Primary deployment: (name, base URL without trailing slash).
    pub primary: (String, String),
    /// Redundant deployment: (name, base URL without trailing slash).
    pub redundant: (String, String),
    /// Moderator base URL without trailing slash.
    pub moderator: Option<String>,
    /// Pre-chat form.
    pub prechat: Prechat,
    /// Language tag overriding the browser's.
    pub lang: Option<String>,
    /// Panel heading overriding the default.
    pub title: Option<String>,
    /// The loader got the widget from the redundant deployment (the primary
    /// failed or was slow), so the redundant one is asked first for a token.
    pub redundant_served: bool,
}

impl WidgetConfig {
    /// The deployments to ask for a visitor token, in order: the one that
    /// served the widget first (it just answered), else the primary first.
    pub fn token_order(&self) -> [&(String, String); 2] {
        if self.redundant_served {
            [&self.redundant, &self.primary]
        } else {
            [&self.primary, &self.redundant]
        }
    }
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Twinline: bad TwinlineConfig: {}", self.0)
    }
}

impl RawConfig {
    /// Reads a JS object's fields (see [`RawConfig::from_fields`]): the
    /// page's `window.TwinlineConfig`, or the object the console's page
    /// passes to `new Console(...)`. A value that is not an object has no
    /// fields: every one reads as missing.
    #[cfg(target_arch = "wasm32")]
    pub fn from_object(object: &wasm_bindgen::JsValue) -> Result<RawConfig, ConfigError> {
        use js_sys::Reflect;
        RawConfig::from_fields(|name| {
            let value = Reflect::get(object, &name.into()).unwrap_or_default();
            if value.is_undefined() {
                Field::Missing
            } else if value.is_null() {
                Field::Null
            } else {
                value.as_string().map_or(Field::Other, Field::Text)
            }
        })
    }

    /// Reads the configuration field by field: `field(name)` is what
    /// `TwinlineConfig[name]` holds. Missing fields get their defaults, `null`
    /// is "not set" where the field is optional, and a value of the wrong
    /// type is refused, as serde's derive does (a test compares them).
    pub fn from_fields(field: impl Fn(&str) -> Field) -> Result<RawConfig, ConfigError> {
        let not_a_string = |name: &str| ConfigError(format!("`{name}` must be a string"));
        let text = |name: &str| match field(name) {
            Field::Missing => Ok(String::new()),
            Field::Text(text) => Ok(text),
            Field::Null | Field::Other => Err(not_a_string(name)),
        };
        let optional = |name: &str| match field(name) {
            Field::Missing | Field::Null => Ok(None),
            Field::Text(text) => Ok(Some(text)),
            Field::Other => Err(not_a_string(name)),
        };
        let bad_prechat = |got: &str| {
            ConfigError(format!(
                "`prechat` must be \"off\", \"optional\" or \"required\", got {got}"
            ))
        };
        let prechat = match field("prechat") {
            Field::Missing => Prechat::default(),
            Field::Text(mode) => match mode.as_str() {
                "off" => Prechat::Off,
                "optional" => Prechat::Optional,
                "required" => Prechat::Required,
                _ => return Err(bad_prechat(&format!("\"{mode}\""))),
            },
            Field::Null => return Err(bad_prechat("null")),
            Field::Other => return Err(bad_prechat("something that is not a string")),
        };
        Ok(RawConfig {
            site: text("site")?,
            primary: text("primary")?,
            redundant: text("redundant")?,
            moderator: optional("moderator")?,
            primary_name: optional("primaryName")?,
            redundant_name: optional("redundantName")?,
            prechat,
            lang: optional("lang")?,
            title: optional("title")?,
            served_by: optional("servedBy")?,
        })
    }

    /// Checks the required fields and normalises the URLs.
    pub fn validate(self) -> Result<WidgetConfig, ConfigError> {
        let site = self.site.trim().to_string();
        if site.is_empty() {
            return Err(ConfigError("`site` is missing".into()));
        }
        let primary = base_url("primary", &self.primary)?;
        let redundant = base_url("redundant", &self.redundant)?;
        let redundant_base = redundant.clone();
        let moderator = match self.moderator.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(base_url("moderator", url)?),
        };
        let name = |given: Option<String>, default: &str| {
            given
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| default.to_string())
        };
        Ok(WidgetConfig {
            site,
            primary: (name(self.primary_name, "primary"), primary),
            redundant: (name(self.redundant_name, "redundant"), redundant),
            moderator,
            prechat: self.prechat,
            lang: self.lang.filter(|l| !l.trim().is_empty()),
            title: self.title.filter(|t| !t.trim().is_empty()),
            redundant_served: self
                .served_by
                .as_deref()
                .and_then(|url| base_url("servedBy", url).ok())
                .is_some_and(|url| url == redundant_base),
        })
    }
}

fn base_url(field: &str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim().trim_end_matches('/');
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(url.to_string())
    } else {
        Err(ConfigError(format!(
            "`{field}` must be an http(s) URL, got \"{url}\""
        )))
    }
}

/// The WebSocket URL for an HTTP base URL (`http` → `ws`, `https` → `wss`).
pub fn ws_url(base: &str) -> String {
    let rest = base.strip_prefix("http").unwrap_or(base);
    format!("ws{rest}/v1/ws")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<WidgetConfig, ConfigError> {
        serde_json::from_str::<RawConfig>(json).unwrap().validate()
    }

    #[test]
    fn a_token_is_asked_first_from_the_deployment_that_served_the_widget() {
        let base = r#""site":"demo","primary":"http://a.test","redundant":"http://b.test/""#;
        let first = |json: &str| parse(json).expect("valid").token_order()[0].1.clone();
        assert_eq!(first(&format!("{{{base}}}")), "http://a.test");
        assert_eq!(
            first(&format!(r#"{{{base},"servedBy":"http://b.test"}}"#)),
            "http://b.test"
        );
        assert_eq!(
            first(&format!(r#"{{{base},"servedBy":"http://a.test/"}}"#)),
            "http://a.test"
        );
        assert_eq!(
            first(&format!(r#"{{{base},"servedBy":"not a url"}}"#)),
            "http://a.test"
        );
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = parse(
            r#"{"site":" demo ","primary":"http://127.0.0.1:7001/","redundant":"https://b.example"}"#,
        )
        .unwrap();
        assert_eq!(config.site, "demo");
        assert_eq!(
            config.primary,
            ("primary".into(), "http://127.0.0.1:7001".into())
        );
        assert_eq!(
            config.redundant,
            ("redundant".into(), "https://b.example".into())
        );
        assert_eq!(config.moderator, None);
        assert_eq!(config.prechat, Prechat::Optional);
    }

    #[test]
    fn names_prechat_and_moderator_are_read() {
        let config = parse(
            r#"{"site":"s","primary":"http://a","redundant":"http://b","moderator":"http://m/",
                "primaryName":"eu","redundantName":"us","prechat":"required","lang":"de"}"#,
        )
        .unwrap();
        assert_eq!(config.primary.0, "eu");
        assert_eq!(config.redundant.0, "us");
        assert_eq!(config.moderator.as_deref(), Some("http://m"));
        assert_eq!(config.prechat, Prechat::Required);
        assert_eq!(config.lang.as_deref(), Some("de"));
    }

    #[test]
    fn missing_site_or_bad_url_is_a_clear_error() {
        let error = parse(r#"{"primary":"http://a","redundant":"http://b"}"#).unwrap_err();
        assert!(error.to_string().contains("`site` is missing"));
        let error =
            parse(r#"{"site":"s","primary":"a.example","redundant":"http://b"}"#).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("`primary` must be an http(s) URL")
        );
        assert!(parse(r#"{"site":"s","primary":"http://a"}"#).is_err());
    }

    /// `from_fields` over a JSON object, as `read_config` sees a JS one.
    fn from_fields(json: &str) -> Result<RawConfig, ConfigError> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).unwrap();
        RawConfig::from_fields(|name| match object.get(name) {
            None => Field::Missing,
            Some(serde_json::Value::Null) => Field::Null,
            Some(serde_json::Value::String(text)) => Field::Text(text.clone()),
            Some(_) => Field::Other,
        })
    }

    #[test]
    fn reading_field_by_field_gives_what_serde_gives() {
        for json in [
            r#"{"site":"s","primary":"http://a","redundant":"http://b"}"#,
            r#"{"site":" s ","primary":"http://a/","redundant":"https://b","moderator":"http://m/",
                "primaryName":"eu","redundantName":"us","prechat":"required","lang":"de",
                "title":"Hi","servedBy":"https://b"}"#,
            r#"{"site":"s","primary":"http://a","redundant":"http://b","prechat":"off","moderator":""}"#,
            r#"{"site":"s","primary":"http://a","redundant":"http://b","moderator":null,"lang":null}"#,
            r#"{"primary":"http://a"}"#,
            r#"{}"#,
        ] {
            let by_serde: RawConfig = serde_json::from_str(json).unwrap();
            assert_eq!(from_fields(json).unwrap(), by_serde, "{json}");
        }
    }

    #[test]
    fn what_serde_refuses_is_refused_field_by_field() {
        let base = r#""site":"s","primary":"http://a","redundant":"http://b""#;
        for (extra, why) in [
            (r#""prechat":"sometimes""#, r#"got "sometimes""#),
            (r#""prechat":null"#, "`prechat` must be"),
            (r#""prechat":1"#, "`prechat` must be"),
            (r#""moderator":5"#, "`moderator` must be a string"),
            (r#""lang":["de"]"#, "`lang` must be a string"),
        ] {
            let json = format!("{{{base},{extra}}}");
            assert!(serde_json::from_str::<RawConfig>(&json).is_err(), "{json}");
            let error = from_fields(&json).unwrap_err();
            assert!(error.to_string().contains(why), "{json}: {error}");
        }
        for json in [
            r#"{"site":5,"primary":"http://a","redundant":"http://b"}"#,
            r#"{"site":null,"primary":"http://a","redundant":"http://b"}"#,
            r#"{"site":"s","primary":true,"redundant":"http://b"}"#,
        ] {
            assert!(serde_json::from_str::<RawConfig>(json).is_err(), "{json}");
            let error = from_fields(json).unwrap_err();
            assert!(
                error.to_string().contains("must be a string"),
                "{json}: {error}"
            );
        }
    }

    #[test]
    fn websocket_url_follows_the_scheme() {
        assert_eq!(ws_url("http://127.0.0.1:7001"), "ws://127.0.0.1:7001/v1/ws");
        assert_eq!(ws_url("https://a.example"), "wss://a.example/v1/ws");
    }
}
