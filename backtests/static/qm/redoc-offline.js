// ReDoc's sidebar shows Redocly's logo from their CDN. These pages load nothing from another
// host: an image pointed at one gets an empty data: URL instead (ReDoc then hides it).
(function () {
  "use strict";
  const foreign = (value) => /^(https?:)?\/\//i.test(String(value)) && !String(value).startsWith(location.origin + "/");
  const src = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: src.enumerable,
    get: src.get,
    set(value) { src.set.call(this, foreign(value) ? "data:," : value); },
  });
  const setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" && foreign(value)) value = "data:,";
    return setAttribute.call(this, name, value);
  };
})();
