// Concerto RCP pages: progressive enhancements only (every form works without them).
(function () {
  "use strict";

  // CIM-10: when a code of the shipped subset is chosen, fill the label if empty.
  var code = document.querySelector("input.cim10-code");
  var label = document.querySelector("input.cim10-label");
  var list = document.getElementById("cim10-liste");
  if (code && label && list) {
    code.addEventListener("change", function () {
      var value = code.value.trim().toUpperCase();
      code.value = value;
      for (var i = 0; i < list.options.length; i++) {
        var option = list.options[i];
        if (option.value === value) {
          if (!label.value.trim()) { label.value = option.textContent.trim(); }
          break;
        }
      }
    });
  }

  // Declared GP: search the directory (name or RPPS) and fill the patient form.
  var search = document.getElementById("gp-search");
  var results = document.getElementById("gp-results");
  var rpps = document.getElementById("id_gp_rpps");
  var name = document.getElementById("id_gp_name");
  if (search && results && rpps && name) {
    search.addEventListener("submit", function (event) {
      event.preventDefault();
      var query = document.getElementById("gp-query").value.trim();
      if (query.length < 2) { return; }
      var url = search.getAttribute("action") + "?format=json&q=" + encodeURIComponent(query);
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.json(); })
        .then(function (data) {
          results.textContent = "";
          if (!data.results.length) {
            results.textContent = "Aucun médecin trouvé dans l'annuaire.";
            return;
          }
          var ul = document.createElement("ul");
          data.results.forEach(function (item) {
            var li = document.createElement("li");
            var button = document.createElement("button");
            button.type = "button";
            button.className = "secondary";
            button.textContent = "Choisir " + item.name + " (RPPS " + item.rpps + ")";
            button.addEventListener("click", function () {
              rpps.value = item.rpps;
              name.value = item.name;
              results.textContent = "Médecin traitant choisi : " + item.name + ".";
              name.focus();
            });
            li.appendChild(button);
            if (item.specialty) { li.appendChild(document.createTextNode(" " + item.specialty)); }
            ul.appendChild(li);
          });
          results.appendChild(ul);
        })
        .catch(function () { results.textContent = "La recherche dans l'annuaire a échoué."; });
    });
  }
})();
