// Loaded after require.js and before the vendored @jupyter-widgets/html-manager bundle.
// The bundle loads its fonts from the folder of the AMD module that asked for them
// ("@jupyter-widgets/..."), which does not exist in the book: map those module names onto
// the vendored folder, so that the fonts come from _static/vendor/html-manager/.
(function () {
  var folder = new URL("vendor/html-manager/", document.currentScript.src).href;
  window.__jupyter_widgets_assets_path__ = folder;
  if (window.require && window.require.config) {
    window.require.config({paths: {"@jupyter-widgets/html-manager/dist": folder.slice(0, -1),
                                   "@jupyter-widgets": folder.slice(0, -1)}});
  }
})();
