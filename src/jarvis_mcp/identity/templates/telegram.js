// Telegram's Login Widget calls this with the signed fields; they are posted with this page's CSRF token,
// so a payload signed for someone else's account cannot sign this browser into it.
function jarvisTelegram(user) {
  var form = document.getElementById("telegram-form");
  for (var name in user) {
    var input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = String(user[name]);
    form.appendChild(input);
  }
  form.submit();
}
