// Sign-In with Ethereum: ask the wallet (EIP-1193, window.ethereum) for its address, get this server's
// message (with a fresh single-use nonce) for it, have the wallet sign it, and post both with the form.
(function () {
  var button = document.getElementById("wallet-submit");
  if (!button) return;
  button.addEventListener("click", async function () {
    if (!window.ethereum) { alert("No Ethereum wallet found in this browser."); return; }
    var accounts = await window.ethereum.request({ method: "eth_requestAccounts" });
    var form = document.getElementById("wallet-form");
    var body = new URLSearchParams({ address: accounts[0], csrf_token: form.csrf_token.value });
    var answer = await fetch("/signin/wallet/message", { method: "POST", body: body, credentials: "same-origin" });
    if (!answer.ok) { alert(await answer.text()); return; }
    var message = (await answer.json()).message;
    var signature = await window.ethereum.request({ method: "personal_sign", params: [message, accounts[0]] });
    document.getElementById("wallet-message").value = message;
    document.getElementById("wallet-signature").value = signature;
    form.submit();
  });
})();
