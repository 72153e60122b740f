// « Copier le code » buttons: copy their textarea, and say so for screen readers too.
(function () {
  "use strict";
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var id = button.getAttribute("data-copy");
    var field = document.getElementById(id);
    var status = document.querySelector('[data-copied="' + id + '"]');
    button.addEventListener("click", function () {
      field.select();
      var done = function () { if (status) status.textContent = "Code copié."; };
      if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, function () {});
      else if (document.execCommand("copy")) done();
    });
  });
})();
