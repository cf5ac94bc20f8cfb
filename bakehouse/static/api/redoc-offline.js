// ReDoc's sidecar build still draws one picture from its CDN (the "API docs by Redocly" logo
// in the sidebar). Offline that request cannot succeed and the Content-Security-Policy
// refuses it with a console error, so it is replaced by an empty same-page image before the
// browser asks for it. Loaded before ReDoc itself (bakehouse/templates/api/redoc.html).
(function () {
  var CDN = "https://cdn.redoc.ly/";
  var EMPTY = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E";
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (name === "src" && this instanceof HTMLImageElement && String(value).indexOf(CDN) === 0) {
      value = EMPTY;
    }
    return setAttribute.call(this, name, value);
  };
  var src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set: function (value) {
      src.set.call(this, String(value).indexOf(CDN) === 0 ? EMPTY : value);
    },
  });
})();
