from django.urls import path

from . import views

app_name = "videos"
urlpatterns = [
    path("", views.gallery, name="gallery"),
    path("new/", views.job_new, name="new"),
    path("batch/", views.job_batch, name="batch"),
    path("notices/", views.notice_list, name="notices"),
    path("<int:pk>/", views.job_detail, name="detail"),
    path("<int:pk>/status.json", views.job_status, name="status"),
    path("<int:pk>/card/", views.job_card, name="card"),
    path("<int:pk>/delete/", views.job_delete, name="delete"),
    path("<int:pk>/share/", views.job_share, name="share"),
    path("kept/<slug:token>", views.kept_upload, name="kept_upload"),
    path("<int:pk>/file", views.job_file, name="file"),
    path("<int:pk>/upgrade/", views.job_upgrade, name="upgrade"),
    path("<int:pk>/extend/", views.job_extend, name="extend"),
    path("<int:pk>/poster.jpg", views.job_poster, name="poster"),
    path("inputs/<slug:token>", views.input_image, name="input_image"),
]
