console.log("app-script");
