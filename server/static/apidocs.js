// Starts Swagger UI (/docs) or ReDoc (/redoc) over the OpenAPI document; both bundles are served from
// /static/apidocs (the fastapi-offline package), so the pages need no CDN and no inline script.
(function () {
  "use strict";
  var url = document.currentScript.getAttribute("data-openapi-url");
  if (document.getElementById("swagger-ui") && window.SwaggerUIBundle) {
    window.ui = window.SwaggerUIBundle({
      url: url,
      dom_id: "#swagger-ui",
      layout: "BaseLayout",
      deepLinking: true,
      showExtensions: true,
      showCommonExtensions: true,
      presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
    });
  } else if (document.getElementById("redoc") && window.Redoc) {
    window.Redoc.init(url, { disableSearch: true }, document.getElementById("redoc"));
  }
})();
