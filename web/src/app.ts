// The web app's page code (entry point of static/js/sealroom.js).
export {};
