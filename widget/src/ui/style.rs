//! The widget's stylesheet, scoped by its shadow root.
//!
//! `:host { all: initial }` keeps the page's CSS out; the colours follow
//! `prefers-color-scheme`, the panel fills the screen below 480 px, and a
//! site may set `--twinline-accent` on the page to recolour the widget
//! (custom properties are the one thing that crosses the shadow boundary).
//!
//! Both schemes' defaults meet WCAG AA, checked by axe in
//! tests/browser/a11y.test.mjs: white text on the accent 4.5:1 or more (the
//! dark accent is darker than a "dark mode blue" would be for that reason),
//! the accent against the panel 3:1 as a focus ring, and the ring inside the
//! header white, since the header is the accent itself.

/// What the launcher needs: the host, the colours, the button and its badge.
/// The launcher bundle carries only this; the chat bundle adds [`PANEL_CSS`].
pub const LAUNCHER_CSS: &str = r#":host{all:initial;position:fixed;z-index:2147483000;right:20px;bottom:20px;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color-scheme:light dark;--a:var(--twinline-accent,#2357d0);--bg:#fff;--fg:#1b1d21;--mu:#59606b;--bd:#d5d9df;--in:#eff2f6;--er:#c5221f}
@media (prefers-color-scheme:dark){:host{--a:var(--twinline-accent,#3d6be0);--bg:#1d2026;--fg:#eceef2;--mu:#a9b0bb;--bd:#3a3f48;--in:#2a2e36;--er:#f28b82}}
*{box-sizing:border-box;font:inherit}
[hidden]{display:none!important}
.launcher{width:56px;height:56px;border-radius:50%;border:0;background:var(--a);color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);display:grid;place-items:center;position:relative}
.launcher svg{width:28px;height:28px;fill:currentColor}
.badge{position:absolute;top:-4px;right:-4px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#c5221f;color:#fff;font-size:12px;line-height:20px;text-align:center}
:focus-visible{outline:2px solid var(--a);outline-offset:2px}
.launcher[aria-busy=true]{cursor:progress;opacity:.8}"#;

/// The panel: header, log, forms, small-screen and motion rules.
pub const PANEL_CSS: &str = r#".panel{position:absolute;right:0;bottom:0;width:360px;height:min(560px,calc(100vh - 40px));display:flex;flex-direction:column;background:var(--bg);color:var(--fg);border:1px solid var(--bd);border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);overflow:hidden}
header{display:flex;align-items:center;gap:8px;padding:12px 14px;background:var(--a);color:#fff}
header div{flex:1;min-width:0}
h2{margin:0;font-size:16px;font-weight:600}
header p{margin:0;font-size:12px}
.x{background:none;border:0;color:inherit;font-size:24px;line-height:1;cursor:pointer;padding:2px 8px;border-radius:6px}
header :focus-visible{outline-color:#fff}
.banner{margin:0;padding:8px 14px;background:var(--in);color:var(--mu);font-size:13px}
.log{flex:1;overflow-y:auto;padding:12px 14px;display:flex;flex-direction:column;gap:8px}
.msg{max-width:80%;align-self:flex-start}
.own{align-self:flex-end}
.who,.meta{display:block;font-size:11px;color:var(--mu)}
.meta{text-align:right}
.cont{margin-top:-6px}.cont .who,.meta:empty{display:none}
.text{margin:0;padding:8px 12px;border-radius:14px;background:var(--in);white-space:pre-wrap;overflow-wrap:anywhere}
.own .text{background:var(--a);color:#fff}
.system{align-self:center}
.system .text{background:none;color:var(--mu);font-style:italic;padding:0}
.typing{margin:0;padding:0 14px 4px;font-size:12px;color:var(--mu);min-height:18px}
form,.end{padding:10px 14px;border-top:1px solid var(--bd);display:flex;flex-direction:column;gap:8px}
.end form{padding:0;border:0}
.row{display:flex;gap:8px;align-items:flex-end}
textarea,input{width:100%;padding:8px 10px;border:1px solid var(--bd);border-radius:8px;background:var(--bg);color:var(--fg);resize:none}
label{font-size:13px;color:var(--mu);display:flex;flex-direction:column;gap:2px}
.btn{padding:8px 14px;border:0;border-radius:8px;background:var(--a);color:#fff;cursor:pointer;font-weight:600}
.err{color:var(--er);font-size:12px;margin:0}
.note{margin:0;color:var(--mu);font-size:14px}
.preview{position:absolute;right:66px;bottom:6px;width:max-content;max-width:min(260px,calc(100vw - 110px));margin:0;padding:8px 12px;border-radius:12px;background:var(--bg);color:var(--fg);border:1px solid var(--bd);box-shadow:0 4px 14px rgba(0,0,0,.2);font-size:14px;cursor:pointer;overflow-wrap:anywhere}
.rate{display:flex;flex-direction:column;gap:6px}
.rate .btn[aria-pressed=false]{background:var(--in);color:var(--fg)}
@media (max-width:480px){.panel{position:fixed;inset:0;width:auto;height:auto;border:0;border-radius:0}}
@media (prefers-reduced-motion:no-preference){.panel{animation:tw-in .15s ease-out}@keyframes tw-in{from{opacity:0;transform:translateY(8px)}}}"#;

#[cfg(test)]
mod tests {
    use super::{LAUNCHER_CSS, PANEL_CSS};

    #[test]
    fn stylesheet_covers_dark_mode_small_screens_and_isolation() {
        assert!(LAUNCHER_CSS.starts_with(":host{all:initial;"));
        assert!(LAUNCHER_CSS.contains("@media (prefers-color-scheme:dark)"));
        assert!(PANEL_CSS.contains("@media (max-width:480px){.panel{position:fixed;inset:0"));
        for css in [LAUNCHER_CSS, PANEL_CSS] {
            assert_eq!(css.matches('{').count(), css.matches('}').count());
        }
    }

    #[test]
    fn the_launcher_part_styles_the_launcher_and_nothing_of_the_panel() {
        assert!(LAUNCHER_CSS.contains(".launcher{") && LAUNCHER_CSS.contains(".badge{"));
        assert!(LAUNCHER_CSS.contains(":focus-visible"));
        assert!(!LAUNCHER_CSS.contains(".panel") && !LAUNCHER_CSS.contains("textarea"));
    }
}
