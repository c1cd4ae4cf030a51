// The page's words for its scripts, in the reader's language: the catalogue comes with the page
// as JSON (<script id="confapp-text">, confapp.translation.script_messages), so a page kept for
// offline use keeps its language. Scripts take what they need:
//   const { gettext: _, ngettext, format } = window.confappText;
//   format(_("%(count)s waiting"), { count: 3 })
// Babel extracts _("...") and ngettext("...", "...", n) from static/ (babel-scripts.cfg).
(function () {
  "use strict";
  const element = document.getElementById("confapp-text");
  const data = element
    ? JSON.parse(element.textContent)
    : { language: document.documentElement.lang || "en", pseudo: false, messages: {}, plurals: {} };
  const formatLanguage = data.pseudo ? "en" : data.language;
  const rules = new Intl.PluralRules(formatLanguage);

  const plain = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  const accented = Array.from("ȧƀƈḓḗƒɠħīĵķŀḿƞǿƥɋřşŧŭṽẇẋẏẑȦƁƇḒḖƑƓĦĪĴĶĿḾȠǾƤɊŘŞŦŬṼẆẊẎẐ");
  const untouched = /%\([^)]*\)[sdif]|%[sdif%]|\{[^{}]*\}|<[^>]*>|&[#\w]+;/g;

  function accent(text) {
    return Array.from(text, (ch) => {
      const at = plain.indexOf(ch);
      return at < 0 ? ch : accented[at];
    }).join("");
  }

  // The same made-up language as confapp.translation.pseudo.
  function pseudo(text) {
    if (!text || text.startsWith("⟦")) return text;
    let out = "";
    let position = 0;
    for (const kept of text.matchAll(untouched)) {
      out += accent(text.slice(position, kept.index)) + kept[0];
      position = kept.index + kept[0].length;
    }
    out += accent(text.slice(position));
    const letters = Array.from(text).filter((ch) => /\p{L}/u.test(ch)).length;
    return "⟦" + out + padding(Math.max(1, Math.floor((letters * 2) / 5))) + "⟧";
  }

  // The 40% more: in words of up to five dots, so that a long text still wraps.
  function padding(length) {
    const words = Array(Math.floor(length / 5)).fill("·····");
    if (length % 5) words.push("·".repeat(length % 5));
    return words.join(" ");
  }

  function gettext(message) {
    if (data.pseudo) return pseudo(message);
    return data.messages[message] || message;
  }

  function ngettext(singular, plural, n) {
    if (data.pseudo) return pseudo(n === 1 ? singular : plural);
    const forms = data.plurals[singular];
    if (forms) return forms[rules.select(n)] || forms.other;
    return n === 1 ? singular : plural;
  }

  // "%(name)s" placeholders, as in the Python and template catalogues.
  function format(text, values) {
    return text.replace(/%\((\w+)\)[sd]/g, (whole, name) =>
      Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole,
    );
  }

  window.confappText = {
    gettext,
    ngettext,
    format,
    language: data.language,
    // For Intl.DateTimeFormat and Intl.NumberFormat.
    formatLanguage,
    pseudo: data.pseudo ? pseudo : (text) => text,
  };
})();
